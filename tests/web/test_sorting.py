"""Sorting Recent Files by a column (web/sorting.py): the order in the URL, keyset pages in every order, the poll,
the CSV and the API in the same order, bad values; and the search over identities, CAS and cycles."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.support.factories import make_export, make_file
from webadmit_dash.api import tokens
from webadmit_dash.api.schemas import Sort
from webadmit_dash.core.models import ExportFile, UserIdentity
from webadmit_dash.web import sorting
from webadmit_dash.web.pagination import PAGE_SIZE, SortKey
from webadmit_dash.webadmit.statuses import RUNNING, FileStatus

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def row_ids(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr id="file-(\d+)"', response.content.decode())]


def _link(response, rel: str) -> str | None:
    found = re.search(rf'rel="{rel}" href="\?([^"]+)"', response.content.decode())
    return "/?" + found.group(1).replace("&amp;", "&") if found else None


def _plain(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))


def _title(identity: UserIdentity) -> str:
    return _plain(identity.title)


@pytest.fixture
def world(identity, other_identity, credential):
    """A list crossing every boundary: three identities (one named with accents), exports A to Z in mixed case and
    one WebAdMIT never named, every status, running files (no finish time), and many files sharing one first-seen
    time and one finish time, so that ties are settled by the later columns."""
    third = UserIdentity.objects.create(
        credential=credential, webadmit_id=555, association="PTCAS", label="École d'été", cycle="2025 - 2026"
    )
    identities = [identity, other_identity, third]
    now = timezone.now()
    names = ["alpha roster", "Beta list", "gamma notes", "Delta Export"]
    statuses = list(FileStatus)
    for n in range(PAGE_SIZE + 23):
        owner = identities[n % 3]
        export = make_export(owner, 1000 + n % 4, names[n % 4])
        export_file = make_file(
            owner, statuses[n % len(statuses)], export=export, first_seen_at=now - timedelta(minutes=n // 6)
        )
        # Many finish at one moment (and ties on first seen above): the key's later columns must settle them.
        ExportFile.objects.filter(pk=export_file.pk).update(status_changed_at=now - timedelta(minutes=n % 5))
    # Files whose export WebAdMIT has not named yet sort as an empty name.
    ExportFile.objects.filter(pk__in=ExportFile.objects.order_by("pk").values("pk")[:3]).update(export=None)
    return identities


def expected(sort: str) -> list[int]:
    """The order each sort promises, computed here in Python rather than by the code under test."""
    files = list(ExportFile.objects.filter(gone_at__isnull=True).select_related("identity", "export"))
    down = sort.startswith("-")
    newest = lambda f: (-f.first_seen_at.timestamp(), -f.webadmit_id, -f.pk)  # noqa: E731
    name = sort.removeprefix("-")
    if name == "":
        return [
            f.pk
            for f in sorted(
                files, key=lambda f: (f.attention_rank, -f.first_seen_at.timestamp(), -f.webadmit_id, -f.pk)
            )
        ]
    if name == "first_seen":
        ordered = sorted(files, key=lambda f: (f.first_seen_at, f.webadmit_id, f.pk), reverse=down)
        return [f.pk for f in ordered]
    primary = {
        "status": lambda f: f.status_enum.label,
        "export": lambda f: (f.export.name if f.export else "").lower(),
        "identity": lambda f: (_title(f.identity), _plain(f.identity.cycle)),
        # Not finished sorts as later than any finish time.
        "finished": lambda f: (f.status_enum in RUNNING, f.status_changed_at),
    }[name]
    # Primary key in the asked direction, ties newest first: sort by the tie-break, then stably by the primary.
    by_newest = sorted(files, key=newest)
    return [f.pk for f in sorted(by_newest, key=primary, reverse=down)]


def walk_pages(client, url: str) -> tuple[list[int], list]:
    seen, pages = [], []
    while url:
        response = client.get(url)
        assert response.status_code == 200
        pages.append(response)
        seen += row_ids(response)
        url = _link(response, "next")
    return seen, pages


@pytest.mark.parametrize("sort", ["", *sorting.SORT_VALUES])
def test_walking_every_page_lists_each_file_once_in_the_order_asked(client, admin_user, world, sort):
    client.force_login(admin_user)
    seen, pages = walk_pages(client, f"/?sort={sort}" if sort else "/")
    assert seen == expected(sort)
    assert len(pages) == 2
    # ...and back again from the last page, by keyset too.
    back = client.get(_link(pages[-1], "prev"))
    assert row_ids(back) == seen[:PAGE_SIZE]


@pytest.mark.parametrize("sort", sorting.SORT_VALUES)
def test_the_api_walks_every_order_by_cursor(client, admin_user, world, sort):
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {tokens.create(admin_user, 'script').secret}"}
    seen, url = [], f"/api/v1/files?sort={sort}&limit=9"
    while url:
        answer = client.get(url, **bearer).json()
        seen += [item["id"] for item in answer["items"]]
        url = answer["next"]
        if url:
            assert f"sort={sort}" in url
    assert seen == expected(sort)


def test_the_csv_lists_the_page_in_its_order(client, admin_user, world):
    client.force_login(admin_user)
    body = b"".join(client.get("/?sort=-export&format=csv").streaming_content).decode("utf-8-sig")
    ids = [int(row[0]) for row in list(csv.reader(io.StringIO(body)))[1:]]
    webadmit_ids = dict(ExportFile.objects.values_list("pk", "webadmit_id"))
    assert ids == [webadmit_ids[pk] for pk in expected("-export")]


def test_running_files_have_no_finish_time_and_sort_after_every_finished_one(client, admin_user, identity):
    now = timezone.now()
    running = make_file(identity, FileStatus.IN_PROGRESS, first_seen_at=now - timedelta(hours=3))
    old = make_file(identity, FileStatus.AVAILABLE, first_seen_at=now - timedelta(hours=2))
    recent = make_file(identity, FileStatus.FAILED, first_seen_at=now - timedelta(hours=5))
    ExportFile.objects.filter(pk=old.pk).update(status_changed_at=now - timedelta(hours=1))
    ExportFile.objects.filter(pk=recent.pk).update(status_changed_at=now - timedelta(minutes=1))
    client.force_login(admin_user)
    assert row_ids(client.get("/?sort=finished")) == [old.pk, recent.pk, running.pk]
    assert row_ids(client.get("/?sort=-finished")) == [running.pk, recent.pk, old.pk]


def test_an_unknown_sort_is_dropped_on_the_page_and_refused_by_the_api(client, admin_user, identity):
    make_file(identity)
    client.force_login(admin_user)
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {tokens.create(admin_user, 'script').secret}"}
    for bad in ("bogus", "--export", "export ", "-", "id", "first_seen_at"):
        response = client.get("/", {"sort": bad})
        assert response.status_code == 200
        assert "Export files: those needing attention" in response.content.decode()
        answer = client.get("/api/v1/files", {"sort": bad}, **bearer)
        assert answer.status_code == 422
        assert "sort" in answer.content.decode()


@pytest.mark.parametrize("sort", sorting.SORT_VALUES)
def test_a_page_key_that_does_not_fit_its_order_gives_the_first_page(client, admin_user, world, sort):
    client.force_login(admin_user)
    first = row_ids(client.get(f"/?sort={sort}"))
    for bad in ("1.2", "x.y.z.w", "%%%.1.2.3", "....", "A" * 5000, "1.99999999999999999999.2.3.4", "1.2.3.4.5.6"):
        response = client.get("/", {"sort": sort, "after": bad})
        assert response.status_code == 200
        assert row_ids(response) == first


def test_the_api_sort_values_are_the_pages(client):
    assert set(Sort.__args__) == set(sorting.SORT_VALUES)


def test_keys_round_trip_in_every_order(world):
    files = ExportFile.objects.all()
    for sort in sorting.SORT_VALUES:
        order = sorting.order(sort, list(UserIdentity.objects.all()))
        for export_file in order.prepare(files):
            key = SortKey.of(export_file, order)
            assert SortKey.decode(key.encode(), order) == key


def test_a_key_names_an_identity_not_its_place_so_a_new_identity_moves_no_page(client, admin_user, world, credential):
    client.force_login(admin_user)
    first = client.get("/?sort=identity")
    following = _link(first, "next")
    # A new identity named to sort before every other one, added while someone pages.
    UserIdentity.objects.create(credential=credential, webadmit_id=777, label="Aardvark", cycle="2026 - 2027")
    assert row_ids(client.get(following)) == expected("identity")[PAGE_SIZE:]


def test_column_headers_link_to_their_order_and_the_sorted_one_reverses(client, admin_user, identity):
    make_file(identity)
    client.force_login(admin_user)
    html = client.get("/?status=available&sort=export").content.decode()
    sorted_header = r'<th scope="col" aria-sort="ascending">\s*<a class="sort sort--ascending" href="\?{}"'
    assert re.search(sorted_header.format("status=available&amp;sort=-export"), html)
    assert "sorted by export, A to Z; choose to sort by export, Z to A" in html
    assert '<span id="order-words" >sorted by export, A to Z</span>' in html
    assert 'href="?status=available&amp;sort=identity"' in html
    assert 'href="?status=available&amp;sort=-finished"' in html
    assert "choose to sort by finished, newest first (running first)" in html
    assert '<option value="export" selected>Export, A to Z</option>' in html
    # The pager, the CSV link and the poll keep the order.
    assert "format=csv" in html and "sort=export&amp;format=csv" in html
    assert re.search(r'hx-get="/files/poll/\?[^"]*sort=export', html)


def test_a_header_link_updates_the_phones_select_but_the_form_keeps_its_focus(client, admin_user, identity):
    make_file(identity)
    client.force_login(admin_user)
    by_link = client.get("/?sort=-status", HTTP_HX_TARGET="results", **HTMX).content.decode()
    assert 'id="sort-field" hx-swap-oob="true"' in by_link
    assert '<span id="order-words" hx-swap-oob="true">sorted by status, Z to A</span>' in by_link
    by_form = client.get("/?sort=-status", HTTP_HX_TARGET="results", HTTP_HX_TRIGGER="filters", **HTMX).content.decode()
    assert 'id="sort-field"' not in by_form


def _poll_url(html: str) -> str:
    return re.search(r'hx-get="(/files/poll/\?[^"]+)"', html).group(1).replace("&amp;", "&")


def test_the_poll_under_another_order_updates_rows_in_place_and_offers_new_files(client, admin_user, identity):
    now = timezone.now()
    a = make_file(identity, FileStatus.IN_PROGRESS, export=make_export(identity, 1, "alpha"), first_seen_at=now)
    make_file(identity, FileStatus.AVAILABLE, export=make_export(identity, 2, "beta"), first_seen_at=now)
    client.force_login(admin_user)
    poll = _poll_url(client.get("/?sort=export").content.decode())
    with CaptureQueriesContext(connection) as queries:
        assert client.get(poll, **HTMX).status_code == 204
    # The session, the user, the change counter and the version: no more with a sort in force.
    assert len(queries) == 4
    ExportFile.objects.filter(pk=a.pk).update(status=FileStatus.AVAILABLE, change_seq=10**6)
    UserIdentity.objects.filter(pk=identity.pk).update(change_seq=10**6)
    # A new file that sorts first under this order: not inserted (rows do not move), offered.
    make_file(identity, FileStatus.QUEUED, export=make_export(identity, 3, "Aardvark"))
    html = client.get(poll, **HTMX).content.decode()
    assert f'<tr id="file-{a.pk}"' in html and "Available" in html
    assert "1 new file since this list was loaded" in html
    assert 'href="?sort=export"' in html  # "Show new files" keeps the order


def test_a_new_file_that_sorts_past_the_first_page_is_not_offered(client, admin_user, identity):
    now = timezone.now()
    for n in range(PAGE_SIZE + 1):
        make_file(identity, FileStatus.AVAILABLE, first_seen_at=now - timedelta(minutes=n))
    client.force_login(admin_user)
    poll = _poll_url(client.get("/?sort=first_seen").content.decode())
    make_file(identity, FileStatus.QUEUED, first_seen_at=now)  # the newest: last when oldest come first
    UserIdentity.objects.filter(pk=identity.pk).update(change_seq=10**6)
    assert "new file" not in client.get(poll, **HTMX).content.decode()


def test_the_search_matches_an_identitys_name_cas_and_cycle(client, admin_user, world):
    identity, other, third = world
    client.force_login(admin_user)

    def found_by(q: str) -> set[int]:
        seen, _ = walk_pages(client, f"/?q={q}")
        return set(seen)

    def files_of(*identities) -> set[int]:
        return set(ExportFile.objects.filter(identity__in=identities).values_list("pk", flat=True))

    assert found_by("ptcas") == files_of(third)
    assert found_by("PharmCAS") == files_of(other)
    assert found_by("2025 - 2026") == files_of(third)
    assert found_by("2026 - 2027") == files_of(identity, other)
    assert found_by("woodbury") == files_of(identity)  # the institution
    assert found_by("ÉCOLE") == files_of(third)  # case aside, as the export-name search
    assert found_by("Beta") == set(ExportFile.objects.filter(export__name="Beta list").values_list("pk", flat=True))


def test_the_search_by_identity_costs_no_query(client, admin_user, world):
    client.force_login(admin_user)
    client.get("/?q=zzz-nothing")

    def queries(q: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            client.get("/", {"q": q})
        return len(captured)

    # Against the whole list (rows with notes both ways, web/row_notes.py): the search itself adds no query.
    assert queries("ptcas") == queries("")


@pytest.mark.parametrize("sort", ["identity", "-identity"])
def test_the_identity_order_walks_across_batches_of_identities(client, admin_user, world, sort, monkeypatch):
    monkeypatch.setattr("webadmit_dash.web.pagination.IDENTITY_BATCH_MOST", 1)
    client.force_login(admin_user)
    seen, pages = walk_pages(client, f"/?sort={sort}")
    assert seen == expected(sort)
    back = client.get(_link(pages[-1], "prev"))
    assert row_ids(back) == seen[:PAGE_SIZE]
