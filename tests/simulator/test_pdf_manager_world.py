"""PDF Manager in the seeded world: templates and demo batches per identity, a lifecycle that follows the clock, the
SPEC's limits (1,000 applicants a batch, zips of bounded size, so several per batch), zips of real little PDFs named
as WebAdMIT names them and no index file, and batches that survive a restart."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest

from webadmit_dash.simulator import SimulatedWorld
from webadmit_dash.simulator.journal import Journal
from webadmit_dash.simulator.pdf_manager import (
    DOCUMENTS_PER_ZIP,
    MAX_APPLICANTS,
    OUTCOMES,
    UNFINISHED,
    BatchSnapshot,
    PdfManager,
    SimTemplate,
)

from .conftest import FakeClock

PACE = 20.0
# <CAS ID>_<First>_<Last>_<Document source title>_<program id>_<Program name>.pdf (the SPEC's example pattern)
DOCUMENT_NAME = re.compile(
    r"(?P<cas>\d{10})_(?P<first>[^_]+)_(?P<last>[^_]+)_(?P<title>[^_]+)_(?P<program>\d{14})_[^_/]+\.pdf"
)


def pdf(world: SimulatedWorld) -> PdfManager:
    return world.pdf_manager


def by_name(world: SimulatedWorld, identity_id: int, name: str) -> SimTemplate:
    return next(template for template in pdf(world).templates(identity_id) if template.name == name)


def awkward(world: SimulatedWorld, identity_id: int) -> SimTemplate:
    """The identity's template whose list decides how its batches end: empty, or too large."""
    return next(
        template
        for template in pdf(world).templates(identity_id)
        if template.applicants == 0 or template.applicants > MAX_APPLICANTS
    )


def finished(world: SimulatedWorld, clock: FakeClock, batch: BatchSnapshot) -> BatchSnapshot:
    clock.tick(len(UNFINISHED) * PACE)
    state = pdf(world).batch(batch.id)
    assert state is not None and state.state in OUTCOMES
    return state


def zip_names_and_bodies(world: SimulatedWorld, batch: BatchSnapshot) -> list[tuple[str, bytes]]:
    found = []
    for zip_id in batch.zip_file_ids:
        download = pdf(world).zip_download(zip_id)
        assert download is not None
        with zipfile.ZipFile(io.BytesIO(download.body())) as archive:
            assert archive.testzip() is None
            found += [(name, archive.read(name)) for name in archive.namelist()]
    return found


def assert_a_pdf(data: bytes) -> None:
    """A real PDF: its header, a cross-reference table whose offsets point at its objects, and its end marker."""
    assert data.startswith(b"%PDF-1.4\n")
    assert data.endswith(b"%%EOF\n")
    xref_at = int(re.search(rb"startxref\n(\d+)\n%%EOF\n$", data)[1])  # type: ignore[index]
    assert data[xref_at:].startswith(b"xref\n0 6\n")
    offsets = [int(line[:10]) for line in data[xref_at:].split(b"\n")[3:8]]
    for number, offset in enumerate(offsets, start=1):
        assert data[offset:].startswith(b"%d 0 obj\n" % number)
    assert b"/Type /Catalog" in data and b"/BaseFont /Helvetica" in data


@pytest.fixture
def world(clock: FakeClock) -> SimulatedWorld:
    return SimulatedWorld(seed=5, clock=clock, pace=PACE)


def test_a_seed_always_builds_the_same_templates_and_batches(clock: FakeClock) -> None:
    def snapshot(world: SimulatedWorld) -> object:
        return [(pdf(world).templates(i.id), pdf(world).batches(i.id)) for i in world.identities()]

    assert snapshot(SimulatedWorld(seed=3, clock=clock)) == snapshot(SimulatedWorld(seed=3, clock=clock))
    assert snapshot(SimulatedWorld(seed=3, clock=clock)) != snapshot(SimulatedWorld(seed=4, clock=clock))


def test_every_identity_has_a_few_templates_one_of_them_awkward(world: SimulatedWorld) -> None:
    awkward_kinds = []
    for identity in world.identities():
        templates = pdf(world).templates(identity.id)
        assert len(templates) == 4
        assert {"Transcripts", "Letters of Recommendation", "Full Application PDFs"} <= {t.name for t in templates}
        assert all(t.list_name and t.document_source_title for t in templates)
        assert [t.id for t in templates] == sorted((t.id for t in templates), reverse=True), "newest first"
        awkward_kinds.append("empty" if awkward(world, identity.id).applicants == 0 else "too large")
    assert set(awkward_kinds) == {"empty", "too large"}
    all_ids = [t.id for i in world.identities() for t in pdf(world).templates(i.id)]
    assert len(set(all_ids)) == len(all_ids)
    assert any(template_id > 2**31 for template_id in all_ids), "64-bit ids are exercised"


def test_hostile_names_name_the_templates_and_their_lists(clock: FakeClock) -> None:
    world = SimulatedWorld(clock=clock, hostile_names=True)
    texts = {text for i in world.identities() for t in pdf(world).templates(i.id) for text in (t.name, t.list_name)}

    assert "<script>alert(1)</script>" in texts
    assert any("\r\n" in text for text in texts)


def test_the_demo_world_has_batches_in_every_state(world: SimulatedWorld) -> None:
    states = {batch.state for i in world.identities() for batch in pdf(world).batches(i.id)}

    assert set(OUTCOMES) <= states
    assert states & set(UNFINISHED), "a mixed world has a batch still running"
    for identity in world.identities():
        batches = pdf(world).batches(identity.id)
        assert len(batches) == 4
        assert [b.id for b in batches] == sorted((b.id for b in batches), reverse=True), "newest first"


def test_a_settled_demo_world_has_only_finished_batches(clock: FakeClock) -> None:
    world = SimulatedWorld(clock=clock, initial="settled")

    assert {b.state for i in world.identities() for b in pdf(world).batches(i.id)} <= set(OUTCOMES)


def test_a_batch_moves_through_its_states_with_the_clock_and_says_when(world: SimulatedWorld, clock: FakeClock) -> None:
    identity_id = world.identities()[0].id
    started = pdf(world).start_batch(identity_id, by_name(world, identity_id, "Transcripts").id, outcome="failed")
    seen = []

    for _ in range(5):
        batch = pdf(world).batch(started.id)
        assert batch is not None
        seen.append((batch.state, batch.updated_at - started.started_at))
        clock.tick(PACE)

    assert started.started_at == clock.now - 5 * PACE
    assert seen == [
        ("initializing", 0),
        ("queued", PACE),
        ("in_progress", 2 * PACE),
        ("failed", 3 * PACE),
        ("failed", 3 * PACE),  # updated_at stays when the state last changed
    ]


def test_every_start_is_a_new_batch_with_a_higher_id(world: SimulatedWorld) -> None:
    identity_id = world.identities()[0].id
    template_id = by_name(world, identity_id, "Transcripts").id

    first = pdf(world).start_batch(identity_id, template_id)
    second = pdf(world).start_batch(identity_id, template_id)

    assert second.id == first.id + 1
    assert [b.id for b in pdf(world).batches(identity_id)][:2] == [second.id, first.id]


def test_big_templates_make_several_zips_small_ones_one(world: SimulatedWorld, clock: FakeClock) -> None:
    identity_id = world.identities()[0].id
    zips = {}
    for name in ("Full Application PDFs", "Transcripts", "Letters of Recommendation"):
        template = by_name(world, identity_id, name)
        batch = finished(world, clock, pdf(world).start_batch(identity_id, template.id, outcome="available"))
        zips[name] = len(batch.zip_file_ids)
        assert len(pdf(world).documents(batch.id)) == template.applicants

    # 11-14, 6-9 and 2-4 applicants, DOCUMENTS_PER_ZIP (5, for WebAdMIT's 1 GB) to a zip.
    assert zips == {"Full Application PDFs": 3, "Transcripts": 2, "Letters of Recommendation": 1}


def test_a_list_past_a_thousand_applicants_fails_and_an_empty_one_is_empty(clock: FakeClock) -> None:
    world = SimulatedWorld(seed=5, clock=clock, pace=PACE, identities=2)
    ends = {}
    for identity in world.identities():
        template = awkward(world, identity.id)
        batch = finished(world, clock, pdf(world).start_batch(identity.id, template.id))
        ends[template.applicants > MAX_APPLICANTS] = (batch.state, batch.zip_file_ids)
        with pytest.raises(ValueError, match="its batches end"):
            pdf(world).start_batch(identity.id, template.id, outcome="available")

    assert ends == {True: ("failed", ()), False: ("empty_list", ())}


def test_a_batch_with_errors_lacks_some_documents_but_not_all(world: SimulatedWorld, clock: FakeClock) -> None:
    identity_id = world.identities()[0].id
    for name in ("Full Application PDFs", "Transcripts", "Letters of Recommendation"):
        template = by_name(world, identity_id, name)
        batch = pdf(world).start_batch(identity_id, template.id, outcome="success_with_errors")

        made = len(pdf(world).documents(batch.id))

        assert 1 <= made < template.applicants


def test_zips_hold_pdfs_named_as_webadmit_names_them_and_no_index(world: SimulatedWorld, clock: FakeClock) -> None:
    identity_id = world.identities()[0].id
    template = by_name(world, identity_id, "Full Application PDFs")
    batch = finished(world, clock, pdf(world).start_batch(identity_id, template.id, outcome="available"))
    programs = dict(pdf(world)._programs_of[identity_id])

    entries = zip_names_and_bodies(world, batch)

    assert [name for name, _ in entries] == [document.file_name for document in pdf(world).documents(batch.id)]
    assert len(entries) == template.applicants
    for name, data in entries:
        found = DOCUMENT_NAME.fullmatch(name)
        assert found, name
        assert found["title"] == "Full Application"
        assert name.endswith(f"_{found['program']}_{programs[int(found['program'])]}.pdf")
        assert_a_pdf(data)
        assert f"CAS ID {found['cas']}".encode() in data
    assert all(name.endswith(".pdf") for name, _ in entries), "no index file: nothing but the documents"


def test_names_keep_their_accents(clock: FakeClock) -> None:
    world = SimulatedWorld(seed=5, clock=clock, pace=0, identities=6)
    names = [
        document.file_name
        for identity in world.identities()
        for batch in pdf(world).batches(identity.id)
        for document in pdf(world).documents(batch.id)
    ]

    assert any(re.search(r"[éöñåëóþðłüç]", name, re.IGNORECASE) for name in names)
    assert any("O'Brien" in name or "Þórunn" in name or "Łucja" in name for name in names)
    batch = next(b for i in world.identities() for b in pdf(world).batches(i.id) if b.zip_file_ids)
    download = pdf(world).zip_download(batch.zip_file_ids[0])
    assert download is not None
    with zipfile.ZipFile(io.BytesIO(download.body())) as archive:
        flags = {info.filename: info.flag_bits & 0x800 for info in archive.infolist()}
    assert all(flag or name.isascii() for name, flag in flags.items()), "non-ASCII names are marked UTF-8"


def test_each_zip_holds_at_most_its_share_and_every_document_once(world: SimulatedWorld, clock: FakeClock) -> None:
    identity_id = world.identities()[0].id
    template = by_name(world, identity_id, "Transcripts")
    batch = finished(world, clock, pdf(world).start_batch(identity_id, template.id, outcome="available"))
    sizes = []
    for zip_id in batch.zip_file_ids:
        download = pdf(world).zip_download(zip_id)
        assert download is not None
        sizes.append(len(download.documents))
        assert download.body() == download.body(), "the same bytes every time"

    assert all(size <= DOCUMENTS_PER_ZIP for size in sizes)
    assert sum(sizes) == template.applicants


def test_only_a_finished_downloadable_batch_of_ones_own_gives_zips(world: SimulatedWorld, clock: FakeClock) -> None:
    mine, theirs = (identity.id for identity in world.identities()[:2])
    batch = pdf(world).start_batch(mine, by_name(world, mine, "Transcripts").id, outcome="available")
    zip_id = batch.zip_file_ids[0]

    assert pdf(world).zip_download(zip_id) is None, "not while it runs"
    clock.tick(3 * PACE)
    assert pdf(world).zip_download(zip_id, mine) is not None
    assert pdf(world).zip_download(zip_id, theirs) is None
    assert pdf(world).zip_download(1) is None
    pdf(world).force_state(batch.id, "failed")
    assert pdf(world).zip_download(zip_id) is None


def test_old_batches_drop_off_after_retention(clock: FakeClock) -> None:
    world = SimulatedWorld(clock=clock, pace=1, retention=3600, new_run_every=None)
    identity_id = world.identities()[0].id
    batch = pdf(world).start_batch(identity_id, by_name(world, identity_id, "Transcripts").id, outcome="available")
    clock.tick(10)
    assert pdf(world).zip_download(batch.zip_file_ids[0]) is not None

    clock.tick(3601)

    assert pdf(world).batches(identity_id) == []
    assert pdf(world).batch(batch.id) is None
    assert pdf(world).zip_download(batch.zip_file_ids[0]) is None


def test_forcing_a_state_normalises_known_spellings_and_keeps_others_raw(
    world: SimulatedWorld, clock: FakeClock
) -> None:
    batch = pdf(world).batches(world.identities()[0].id)[0]
    clock.tick(7)

    forced = pdf(world).force_state(batch.id, "Success With Errors")

    assert (forced.state, forced.updated_at) == ("success_with_errors", clock.now)
    assert pdf(world).force_state(batch.id, " in-progress ").state == "in_progress"
    assert pdf(world).force_state(batch.id, "archived").state == "archived"
    with pytest.raises(LookupError, match="PDF Manager batch '1' not found"):
        pdf(world).force_state(1, "failed")


def test_a_batch_of_another_identitys_template_is_refused(world: SimulatedWorld) -> None:
    mine, theirs = (identity.id for identity in world.identities()[:2])

    with pytest.raises(LookupError, match="Not Found"):
        pdf(world).start_batch(mine, pdf(world).templates(theirs)[0].id)
    with pytest.raises(ValueError, match="outcome must be one of"):
        pdf(world).start_batch(mine, pdf(world).templates(mine)[0].id, outcome="queued")


def test_started_batches_replay_with_their_ids_and_zips(clock: FakeClock) -> None:
    first = SimulatedWorld(seed=7, pace=PACE, clock=clock)
    identity_id = first.identities()[1].id
    clock.tick(95)
    a = pdf(first).start_batch(identity_id, by_name(first, identity_id, "Full Application PDFs").id)
    clock.tick(200)
    b = pdf(first).start_batch(identity_id, by_name(first, identity_id, "Transcripts").id, outcome="available")
    clock.tick(400)
    before, stopped_at = pdf(first).batches(identity_id), first.now()

    clock.tick(86_400)
    again = SimulatedWorld(seed=7, pace=PACE, clock=clock, epoch=first.created_at, world_time=stopped_at)
    pdf(again).replay(pdf(first).started_here)

    assert pdf(again).batches(identity_id) == before
    assert {a.id, b.id} <= {batch.id for batch in before}


def test_the_journal_keeps_started_batches_and_reads_one_written_before_them(tmp_path: Path, clock: FakeClock) -> None:
    journal = Journal(tmp_path / "world.json", {"seed": 7})
    world = SimulatedWorld(seed=7, clock=clock)
    identity_id = world.identities()[0].id
    started = pdf(world).start_batch(identity_id, by_name(world, identity_id, "Transcripts").id)

    journal.save(world)
    resumed = journal.resume()

    assert resumed is not None
    assert [(b.identity_id, b.started_at) for b in resumed.batches] == [(identity_id, started.started_at)]
    saved = (tmp_path / "world.json").read_text(encoding="utf-8")
    (tmp_path / "world.json").write_text(saved.replace('"batches"', '"not_batches"'), encoding="utf-8")
    older = journal.resume()
    assert older is not None and older.batches == []


def test_a_forced_state_decides_what_the_batch_holds(world: SimulatedWorld, clock: FakeClock) -> None:
    identity_id = world.identities()[0].id
    template = by_name(world, identity_id, "Full Application PDFs")
    batch = finished(world, clock, pdf(world).start_batch(identity_id, template.id, outcome="failed"))
    assert batch.zip_file_ids == ()

    forced = pdf(world).force_state(batch.id, "available")

    assert len(forced.zip_file_ids) == 3
    assert pdf(world).zip_download(forced.zip_file_ids[-1]) is not None
    assert len(pdf(world).documents(batch.id)) == template.applicants
