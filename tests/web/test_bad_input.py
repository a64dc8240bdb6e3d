"""Bad input never 500s: the crafted URLs that did, the strict parser, and random junk thrown at every GET URL.

Every URL comes from the URLconf and every parameter name from what the pages read (`params.NAMES_READ`) and
what the admin reads, so a page added later is covered without touching this file.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.factories import make_file
from tests.support.urls import URLS, path_for
from webadmit_dash.core.models import Credential
from webadmit_dash.web import params
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": "http://testserver/"}
HUGE = "99999999999999999999999"
# Values that broke a page once, or break naive parsers: a superscript digit (isdigit() says yes, int() says no),
# numbers past 64 bits, negatives, Arabic-Indic digits, a NUL (PostgreSQL refuses it), an almost-sort-key.
NASTY = ["²", HUGE, str(2**63), str(-(2**63) - 1), "99999999999", "-1", "0", " 7", "٣", "a\x00b", "1.2.3.4", "1,²,-3"]


# --- The crafted URLs of issue 10 -----------------------------------------------------------------------------------


def test_a_superscript_digit_in_the_search_is_searched_as_text(client, staff_granted, identity):
    make_file(identity, FileStatus.AVAILABLE)
    client.force_login(staff_granted)
    response = client.get("/?q=²")
    assert response.status_code == 200
    assert "No files match these filters" in response.content.decode()


def test_a_poll_with_a_superscript_id_answers_the_page_in_full(client, staff_granted, identity):
    export_file = make_file(identity, FileStatus.QUEUED)
    client.force_login(staff_granted)
    response = client.get("/files/poll/?ids=²", **HTMX)
    assert response.status_code == 200
    # No known version: the poll answers with the summary; the unreadable id is dropped, not looked up.
    assert 'id="count-all"' in response.content.decode()
    assert f'id="file-{export_file.pk}"' not in response.content.decode()


def test_a_poll_with_an_id_past_64_bits_drops_it(client, staff_granted, identity):
    export_file = make_file(identity, FileStatus.QUEUED)
    client.force_login(staff_granted)
    response = client.get(f"/files/poll/?since=-1&ids={HUGE},{export_file.pk}", **HTMX)
    assert response.status_code == 200
    assert f'<tr id="file-{export_file.pk}"' in response.content.decode()


def test_a_file_id_past_64_bits_in_the_address_is_not_found(client, staff_granted):
    client.force_login(staff_granted)
    assert client.get(f"/files/{HUGE}/download/").status_code == 404


def test_a_date_drill_down_past_the_calendar_is_refused_in_words(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/admin/dashboard/statuschange/?changed_at__year=99999999999")
    assert response.status_code == 400
    assert "“changed_at__year” must be a year between 1 and 9999." in response.content.decode()


def test_an_admin_filter_or_initial_value_past_64_bits_is_refused(client, admin_user):
    client.force_login(admin_user)
    assert client.get(f"/admin/dashboard/identitygrant/add/?identity={HUGE}").status_code == 400
    assert client.get(f"/admin/dashboard/useridentity/?credential__id__exact={HUGE}").status_code == 400


def test_an_admin_form_drops_an_initial_value_its_field_refuses(client, admin_user, credential):
    client.force_login(admin_user)
    response = client.get(f"/admin/dashboard/useridentity/add/?last_success_at=²&credential={credential.pk}")
    assert response.status_code == 200
    assert f'<option value="{credential.pk}" selected>' in response.content.decode()


def test_an_empty_to_field_marker_is_refused(client, admin_user, credential):
    client.force_login(admin_user)
    assert client.get(f"/admin/dashboard/credential/{credential.pk}/change/?_to_field=").status_code == 400


# --- The one strict parser ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("7", 7),
        ("-1", -1),
        (str(2**63 - 1), 2**63 - 1),
        (str(-(2**63)), -(2**63)),
        (str(2**63), None),
        (HUGE, None),
        ("²", None),
        ("٣", None),  # an Arabic-Indic digit: int() accepts it, a link of ours never carries it
        (" 7", None),
        ("7_000", None),
        ("+7", None),
        ("", None),
        (None, None),
    ],
)
def test_whole_numbers_are_ascii_digits_within_64_bits(raw, expected):
    assert params.whole_number(raw, None) == expected


def test_a_number_outside_the_asked_range_is_the_default():
    assert params.whole_number("-5", 1, minimum=1) == 1
    assert params.whole_number("3", 0, maximum=2) == 0


def test_a_list_of_ids_keeps_the_readable_ones_up_to_its_limit(rf):
    query = rf.get("/", {"ids": f"1,²,{HUGE},-4,5,,6"}).GET
    assert params.integers(query, "ids", limit=10) == (1, 5, 6)
    assert params.integers(query, "ids", limit=2) == (1,)


def test_text_loses_control_characters_and_is_cut(rf):
    query = rf.get("/", {"q": " a\x00b\tc " + "x" * 200}).GET
    assert params.text(query, "q", max_length=10) == "abc xxxxxx"


def test_repeated_choices_are_kept_once_in_their_own_order(rf):
    query = rf.get("/", {"status": ["failed", "queued", "failed", "²"]}).GET
    assert params.choices(query, "status", ["queued", "failed", "available"]) == ("queued", "failed")


# --- Every GET URL, discovered from the URLconf ---------------------------------------------------------------------


ADMIN_LIST_NAMES = {"p", "o", "q", "e", "all", "_to_field", "_popup"}
ADMIN_FORM_NAMES = {"_to_field", "_popup", "_changelist_filters"}
# The admin's own pages get fewer values, one parameter at a time: those that once crashed Django's admin, and
# their neighbours.
ADMIN_NASTY = ["²", HUGE, "99999999999", "a\x00b", "1,²,-3"]


def _admin_parameter_names(url_name: str) -> set[str]:
    """What an admin page reads: a list its paging, ordering, search, filters and date drill-down; an add form
    its initial values (one per field). Its other pages read only markers, which the random test throws at."""
    for model, model_admin in admin.site._registry.items():
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}_"
        if url_name == f"{prefix}changelist":
            names = set(ADMIN_LIST_NAMES)
            for list_filter in model_admin.list_filter:
                if isinstance(list_filter, str):
                    names |= {f"{list_filter}__exact", f"{list_filter}__isnull", f"{list_filter}__id__exact"}
            if model_admin.date_hierarchy:
                names |= {f"{model_admin.date_hierarchy}__{part}" for part in ("year", "month", "day")}
            return names
        if url_name == f"{prefix}add":
            return ADMIN_FORM_NAMES | {field.name for field in model._meta.get_fields() if field.concrete}
    if url_name == "admin:autocomplete":
        return {"app_label", "model_name", "field_name", "term", "page"}
    return set()


@st.composite
def urls(draw, page_names: list[str]) -> tuple[str, str]:
    """A URL of the site with junk in its path numbers and its query: random unicode, huge and negative numbers,
    lists of them, and repeated parameters, mostly under the names the URL's page reads."""
    site, admin_site = (
        [maker for maker in URLS if maker[0].startswith("admin:") == is_admin] for is_admin in (False, True)
    )
    url_name, arguments = draw(st.sampled_from(site) | st.sampled_from(admin_site))
    path = path_for(url_name, arguments, {name: draw(argument.junk) for name, argument in arguments.items()})
    own_names = (
        sorted(_admin_parameter_names(url_name) | ADMIN_FORM_NAMES) if url_name.startswith("admin:") else page_names
    )
    number = st.integers(min_value=-(10**30), max_value=10**30).map(str)
    junk = st.one_of(
        st.sampled_from(NASTY),
        st.text(max_size=30),
        st.text(st.characters(categories=["Nd", "No", "Nl"]), min_size=1, max_size=4),  # "²", "٣", "Ⅻ"
        number,
        st.lists(number, max_size=5).map(",".join),
        st.lists(number, min_size=4, max_size=4).map(".".join),  # a page key's shape
    )
    name = st.one_of(st.sampled_from(own_names), st.text(min_size=1, max_size=8))
    pairs = draw(st.lists(st.tuples(name, junk), max_size=4))
    return url_name, (f"{path}?{urlencode(pairs)}" if pairs else path)


HEADERS = [
    {},
    HTMX,
    {**HTMX, "HTTP_HX_TARGET": "results"},
    {**HTMX, "HTTP_HX_TARGET": "identity-table", "HTTP_HX_CURRENT_URL": "http://testserver/identities/?%FF²"},
    {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": "²://[::1"},
]


@pytest.fixture
def users(admin_user, staff_granted, credential, identity, other_identity, simulator) -> list[User]:
    """A superuser and a staff member, on a site with a file of every status in two identities.

    The credential points at the simulator: a drawn file id may be a real one, and its Download asks WebAdMIT.
    """
    Credential.objects.filter(pk=credential.pk).update(base_url=simulator.base_url)
    for status in FileStatus:
        make_file(identity, status)
        make_file(other_identity, status)
    return [admin_user, staff_granted]


def _page_parameter_names(client, users: list[User]) -> list[str]:
    """What the pages read: recorded by `params` as every URL is asked once."""
    for user in users:
        client.force_login(user)
        for url_name, arguments in URLS:
            url = path_for(url_name, arguments, {})
            for headers in HEADERS[:2]:
                client.get(url, **headers)
    assert {"q", "status", "since", "ids", "after"} <= params.NAMES_READ
    return sorted(params.NAMES_READ)


# Doors to WebAdMIT answer its outages as 502/503/504 with a page that says so (core/problems.py): upstream's
# fault, not ours. Everywhere else any 5xx is a failure.
GATEWAYS = {"download_file"}


def _assert_no_server_error(client, url_name: str, url: str, headers: dict[str, str]) -> None:
    response = client.get(url, **headers)  # a crash raises here (the test client re-raises it)
    assert response.status_code != 500, f"{url} ({headers}) answered 500"
    if url_name not in GATEWAYS:
        assert response.status_code < 500, f"{url} ({headers}) answered {response.status_code}"


@pytest.mark.slow
def test_every_page_survives_every_nasty_value_in_every_parameter(client, users):
    """A sweep that does not depend on luck: each page and fragment of the site, each nasty value in every
    parameter the pages read, with and without htmx, as each user."""
    names = _page_parameter_names(client, users)
    for user in users:
        client.force_login(user)
        for url_name, arguments in URLS:
            if url_name.startswith("admin:"):
                continue
            for nasty in NASTY:
                path = path_for(url_name, arguments, dict.fromkeys(arguments, nasty))
                # Each parameter twice, the nasty value last (the one a page reads): repeated parameters too.
                query = urlencode([(name, "1") for name in names] + [(name, nasty) for name in names])
                for headers in HEADERS[:3]:
                    _assert_no_server_error(client, url_name, f"{path}?{query}", headers)


@pytest.mark.slow
def test_every_admin_page_survives_every_nasty_value_in_each_of_its_parameters(client, users):
    """The admin refuses a query at its first unknown name, so its parameters get the nasty values one by one."""
    client.force_login(users[0])
    for url_name, arguments in URLS:
        names = _admin_parameter_names(url_name)
        for nasty in ADMIN_NASTY if names else ():
            path = path_for(url_name, arguments, dict.fromkeys(arguments, nasty))
            for name in sorted(names):
                _assert_no_server_error(client, url_name, f"{path}?{urlencode([(name, nasty)])}", {})


@pytest.mark.slow
def test_random_junk_at_every_url_never_gives_a_server_error(client, users):
    names = _page_parameter_names(client, users)

    @settings(
        max_examples=300,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(url=urls(names), user=st.sampled_from(users), headers=st.sampled_from(HEADERS))
    def no_server_error(url: tuple[str, str], user: User, headers: dict[str, str]) -> None:
        client.force_login(user)
        _assert_no_server_error(client, *url, headers)

    no_server_error()


def test_the_sweep_covers_pages_added_later():
    """Every page of the site is among the URLs thrown at: the list comes from the URLconf, not from this file."""
    names = {name for name, _ in URLS}
    assert {"recent_files", "poll_files", "identities", "download_file", "preferences", "login"} <= names
    assert {"admin:index", "admin:dashboard_exportfile_changelist", "admin:axes_accessattempt_changelist"} <= names
