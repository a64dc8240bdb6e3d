"""PDF Manager in the simulated world: each identity's templates, the batches run from them, and their zips.

As with export files (data.py), time drives everything: a batch's state follows from its start and the clock
(initializing -> queued -> in_progress -> outcome, one step per `pace` seconds), so reading the world moves it.
States are WebAdMIT's for batches, lower snake case on the wire (the SPEC, "PDF Manager"), spelled out here rather
than shared with the export files' or the client's, for the reason data.py gives.

The quirks the SPEC documents, and how they show here:
- A template's list can be empty (its batches end `empty_list`) or larger than the 1,000 applicants a batch may hold
  (its batches fail while processing). Each identity has one such template, alternately.
- A zip holds at most `DOCUMENTS_PER_ZIP` documents, standing in for WebAdMIT's 1 GB: the larger templates make two
  or three zips per batch. A batch that ends `success_with_errors` lacks some of its applicants' documents.
- Only a finished, downloadable batch lists its zips (`download_hrefs`). Zip ids are set aside when a batch starts,
  enough for its whole list; one with errors holds fewer documents, so it uses the first of them only. A state the
  control API forces decides what the batch holds, as its own outcome would.

What the SPEC leaves open is chosen and said so: batches are listed newest first (as export files are), they stay
listed as long as export files do (`retention`), and every POST starts a new batch (none is returned again, unlike
E4's unfinished run).

Its random draws come from a stream of their own (seeded from the world's seed), so adding PDF Manager changed none
of the identities, exports or files a seed builds. Batches started through the API are recorded (`StartedBatch`) so
that a restarted simulator replays them, as it does runs (journal.py).
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .draws import canonical, roll
from .pdf_documents import Document, minimal_pdf, zip_of

UNFINISHED = ("initializing", "queued", "in_progress")
OUTCOMES = ("available", "success_with_errors", "empty_list", "failed")
DOWNLOADABLE = ("available", "success_with_errors")
STATES = UNFINISHED + OUTCOMES
MAX_APPLICANTS = 1_000  # per batch (SPEC): a larger list fails while processing
DOCUMENTS_PER_ZIP = 5  # stands in for WebAdMIT's 1 GB per zip, so that a big template makes several zips
TEMPLATES_PER_IDENTITY = 4

# (name, list name, document source title, how many applicants the list holds: a range, or a fixed count). The first
# is the SPEC's own example template; the last is one of the two awkward ones, chosen per identity.
_TEMPLATES: tuple[tuple[str, str, str, tuple[int, int]], ...] = (
    ("Transcripts", "Complete Applications", "Official Transcript", (6, 9)),
    ("Letters of Recommendation", "Interview Pool \u2013 Café Session", "Letter of Recommendation", (2, 4)),
    ("Full Application PDFs", "Admitted \u2013 Fall 2026", "Full Application", (11, 14)),
)
_TOO_LARGE = ("Archive \u2013 All Applicants", "All Applicants (every cycle)", "Full Application", (1_250, 1_250))
_EMPTY = ("Deferred Applicants", "Deferred \u2013 Spring Review", "Personal Statement", (0, 0))
_PROGRAMS = (
    "Master of Public Health",
    "Doctor of Pharmacy (PharmD)",
    "Master of Architecture",
    "Physician Assistant Studies \u2013 MPAS",
    "Doctor of Physical Therapy",
    "Maestría en Consejería Profesional",
    "Nutrition & Dietetics \u2013 Post-Baccalauréat",
)
_APPLICANTS = (
    ("José", "García"),
    ("Zoë", "Achterberg"),
    ("François", "Lefèvre"),
    ("Siobhán", "O'Brien"),
    ("Björn", "Åkesson"),
    ("Anaïs", "Noël"),
    ("Łucja", "Wróbel"),
    ("Þórunn", "Guðmundsdóttir"),
    ("Nuño", "Peña"),
    ("Renée", "Brontë"),
    ("Maria", "Smith"),
    ("Dương", "Thị Hà"),
)


@dataclass(frozen=True, slots=True)
class SimTemplate:
    id: int
    identity_id: int
    name: str
    list_name: str
    document_source_title: str
    applicants: int  # how many applicants the template's list holds


@dataclass(frozen=True, slots=True)
class StartedBatch:
    """A batch started through the API or the control API, as the world records it for a later replay."""

    started_at: float
    identity_id: int
    template_id: int
    outcome: str


@dataclass(frozen=True, slots=True)
class BatchSnapshot:
    """A batch as of one instant. `state` is canonical lower snake case, or raw text when forced to one;
    `updated_at` is when it last changed state."""

    id: int
    identity_id: int
    template: SimTemplate
    state: str
    updated_at: float
    started_at: float
    zip_file_ids: tuple[int, ...]

    @property
    def downloadable(self) -> bool:
        return self.state in DOWNLOADABLE


@dataclass(frozen=True, slots=True)
class ZipDownload:
    """One zip of a finished batch: its name (the simulator's own; WebAdMIT's is undocumented), its documents, and
    `body()` to make its bytes (a few kilobytes, made when served)."""

    identity_id: int
    batch_id: int
    zip_file_id: int
    filename: str
    documents: tuple[Document, ...]
    made_at: float

    def body(self) -> bytes:
        entries = [(document.file_name, _pdf_of(document, self.batch_id)) for document in self.documents]
        return zip_of(entries, self.made_at)


@dataclass(slots=True)
class _Batch:
    id: int
    identity_id: int
    template_id: int
    started_at: float
    outcome: str
    zip_file_ids: tuple[int, ...]  # set aside for the whole list; see _zip_ids
    forced: str | None = None
    forced_at: float = 0.0
    zips_when: dict[str, int] = field(default_factory=dict)  # how many zips it holds, by the outcome it holds


class PdfManager:
    """The PDF Manager side of a world. Thread-safe: every public method holds one lock."""

    def __init__(
        self,
        *,
        seed: int,
        identity_ids: Sequence[int],
        clock: Callable[[], float],
        pace: float,
        retention: float,
        created_at: float,
        initial: str = "mix",
        hostile_names: Sequence[str] | None = None,
        on_start: Callable[[StartedBatch], None] | None = None,
    ) -> None:
        """`clock` is the world's (its `now`); `hostile_names`, when given, name the templates and their lists."""
        self.seed = seed
        self.pace = pace
        self.retention = retention
        self._clock = clock
        self._on_start = on_start
        self._lock = threading.RLock()
        self._templates: dict[int, SimTemplate] = {}
        self._templates_of: dict[int, list[SimTemplate]] = {}
        self._programs_of: dict[int, list[tuple[int, str]]] = {}
        self._batches: dict[int, _Batch] = {}
        self._batches_of: dict[int, list[_Batch]] = {}
        self._batch_of_zip: dict[int, int] = {}
        self.started_here: list[StartedBatch] = []
        rng = random.Random(f"{seed}:pdf-manager")
        self._next_batch_id = rng.randrange(6_000, 9_000)
        self._next_zip_id = rng.randrange(280_000, 300_000)
        self._build(rng, identity_ids, created_at, initial, hostile_names)

    # --- Building ---------------------------------------------------------------------------------------------

    def _build(
        self,
        rng: random.Random,
        identity_ids: Sequence[int],
        created_at: float,
        initial: str,
        hostile_names: Sequence[str] | None,
    ) -> None:
        used: set[int] = set()

        def fresh(low: int, high: int) -> int:
            while True:
                candidate = rng.randrange(low, high)
                if candidate not in used:
                    used.add(candidate)
                    return candidate

        drafts: list[tuple[float, int, int, str]] = []
        settled_before = created_at - 3 * self.pace - 1
        oldest = created_at - 0.9 * self.retention
        for index, identity_id in enumerate(identity_ids):
            # Programs carry 14-digit ids in WebAdMIT, and they appear in every document's name.
            programs = [(fresh(10**13, 10**14), name) for name in rng.sample(_PROGRAMS, 2)]
            self._programs_of[identity_id] = programs
            kinds = [*_TEMPLATES, _TOO_LARGE if index % 2 == 0 else _EMPTY]
            templates = []
            for number, (name, list_name, source_title, (low, high)) in enumerate(kinds):
                # Some template ids beyond 32 bits, so that the client's 64-bit handling is exercised here too.
                template_id = fresh(2**31, 2**31 + 10**8) if index % 3 == 2 else fresh(1_000, 100_000)
                if hostile_names:
                    count = len(hostile_names)
                    name = hostile_names[(index * TEMPLATES_PER_IDENTITY + number) % count]
                    list_name = hostile_names[(index * TEMPLATES_PER_IDENTITY + number + 1) % count]
                template = SimTemplate(template_id, identity_id, name, list_name, source_title, rng.randint(low, high))
                self._templates[template_id] = template
                templates.append(template)
            self._templates_of[identity_id] = templates
            self._batches_of[identity_id] = []

            def settled() -> float:
                return rng.uniform(min(oldest, settled_before), settled_before)

            # A few batches in every state, for the demo: the big template's zips, one with errors, the awkward
            # template's failure or empty list, and (in a mixed world) the one still running.
            transcripts, letters, full, awkward = templates
            drafts.append((settled(), identity_id, full.id, "available"))
            drafts.append((settled(), identity_id, letters.id, "success_with_errors"))
            drafts.append((settled(), identity_id, awkward.id, _only_outcome(awkward) or "failed"))
            recent = created_at - rng.uniform(0, 3 * self.pace) if initial == "mix" else settled()
            drafts.append((recent, identity_id, transcripts.id, "available"))
        # Numbered in start order, so that a newer batch has a higher id, as WebAdMIT's ids grow with time.
        for started_at, identity_id, template_id, outcome in sorted(drafts):
            self._new_batch(identity_id, template_id, started_at, outcome)

    def _new_batch(self, identity_id: int, template_id: int, started_at: float, outcome: str | None = None) -> _Batch:
        template = self._templates[template_id]
        batch_id = self._next_batch_id
        self._next_batch_id += 1
        if outcome is None:
            outcome = _only_outcome(template) or _drawn_outcome(self.seed, batch_id)
        # Depends on the template alone, so a replayed batch gets the zip ids it had whatever its outcome.
        zips = math.ceil(template.applicants / DOCUMENTS_PER_ZIP) if _only_outcome(template) is None else 0
        zip_ids = tuple(range(self._next_zip_id, self._next_zip_id + zips))
        self._next_zip_id += zips
        batch = _Batch(batch_id, identity_id, template_id, started_at, outcome, zip_ids)
        self._batches[batch_id] = batch
        self._batches_of[identity_id].append(batch)
        for zip_id in zip_ids:
            self._batch_of_zip[zip_id] = batch_id
        return batch

    # --- State --------------------------------------------------------------------------------------------------

    def _snapshot(self, batch: _Batch, now: float) -> BatchSnapshot:
        template = self._templates[batch.template_id]
        if batch.forced is not None:
            state, updated_at = batch.forced, batch.forced_at
        elif self.pace <= 0:
            state, updated_at = batch.outcome, batch.started_at
        else:
            step = max(int((now - batch.started_at) // self.pace), 0)
            state = UNFINISHED[step] if step < len(UNFINISHED) else batch.outcome
            updated_at = batch.started_at + min(step, len(UNFINISHED)) * self.pace
        zip_ids = self._zip_ids(batch, template, _holding(batch, state))
        return BatchSnapshot(batch.id, batch.identity_id, template, state, updated_at, batch.started_at, zip_ids)

    def _zip_ids(self, batch: _Batch, template: SimTemplate, holding: str | None) -> tuple[int, ...]:
        """The zips the batch holds (or will, while it runs) when it holds `holding`'s documents."""
        if holding is None:
            return ()
        if holding not in batch.zips_when:
            documents = len(self._documents(template, batch.id, holding))
            batch.zips_when[holding] = math.ceil(documents / DOCUMENTS_PER_ZIP)
        return batch.zip_file_ids[: batch.zips_when[holding]]

    def _listed(self, batch: _Batch, now: float) -> bool:
        return now - batch.started_at <= self.retention

    def _prune(self, identity_id: int, now: float) -> list[_Batch]:
        kept = []
        for batch in self._batches_of.get(identity_id, []):
            if self._listed(batch, now):
                kept.append(batch)
            else:
                self._batches.pop(batch.id, None)
                for zip_id in batch.zip_file_ids:
                    self._batch_of_zip.pop(zip_id, None)
        self._batches_of[identity_id] = kept
        return kept

    # --- Reading ------------------------------------------------------------------------------------------------

    def templates(self, identity_id: int) -> list[SimTemplate]:
        """The identity's templates, newest (highest id) first; empty for an unknown identity."""
        with self._lock:
            return sorted(self._templates_of.get(identity_id, []), key=lambda template: template.id, reverse=True)

    def template(self, identity_id: int, template_id: int) -> SimTemplate | None:
        with self._lock:
            template = self._templates.get(template_id)
            return template if template is not None and template.identity_id == identity_id else None

    def batches(self, identity_id: int) -> list[BatchSnapshot]:
        """The identity's batches still listed, newest first."""
        with self._lock:
            now = self._clock()
            batches = [self._snapshot(batch, now) for batch in self._prune(identity_id, now)]
        return sorted(batches, key=lambda batch: (batch.started_at, batch.id), reverse=True)

    def batch(self, batch_id: int, identity_id: int | None = None) -> BatchSnapshot | None:
        """One batch (of `identity_id`, when given), or None when unknown, another's, or past retention."""
        with self._lock:
            now = self._clock()
            batch = self._batches.get(batch_id)
            if batch is None or not self._listed(batch, now):
                return None
            if identity_id is not None and batch.identity_id != identity_id:
                return None
            return self._snapshot(batch, now)

    def zip_download(self, zip_file_id: int, identity_id: int | None = None) -> ZipDownload | None:
        """A zip of a downloadable batch (of `identity_id`, when given), or None: unknown, another's, gone, or
        its batch not (or no longer) downloadable."""
        with self._lock:
            batch_id = self._batch_of_zip.get(zip_file_id)
            snapshot = self.batch(batch_id, identity_id) if batch_id is not None else None
            if snapshot is None or not snapshot.downloadable or zip_file_id not in snapshot.zip_file_ids:
                return None
        documents = self._documents(snapshot.template, snapshot.id, snapshot.state)
        number = snapshot.zip_file_ids.index(zip_file_id)
        mine = tuple(documents[number * DOCUMENTS_PER_ZIP : (number + 1) * DOCUMENTS_PER_ZIP])
        filename = f"pdf_manager_batch_{snapshot.id}_{number + 1}_of_{len(snapshot.zip_file_ids)}.zip"
        return ZipDownload(snapshot.identity_id, snapshot.id, zip_file_id, filename, mine, snapshot.updated_at)

    def documents(self, batch_id: int) -> list[Document]:
        """Every document the batch's zips hold (or will hold, while it runs), in zip order; empty when it has
        none. What a test expects to find in them."""
        snapshot = self.batch(batch_id)
        if snapshot is None:
            return []
        with self._lock:
            holding = _holding(self._batches[batch_id], snapshot.state)
        return self._documents(snapshot.template, batch_id, holding) if holding is not None else []

    def _documents(self, template: SimTemplate, batch_id: int, outcome: str) -> list[Document]:
        """The template's list as documents (the same applicants for every batch of it), less those a batch
        that ended with errors could not make."""
        if outcome not in DOWNLOADABLE or not 0 < template.applicants <= MAX_APPLICANTS:
            return []
        rng = random.Random(f"{self.seed}:pdf-template:{template.id}")
        programs = self._programs_of[template.identity_id]
        documents = []
        for _ in range(template.applicants):
            first, last = rng.choice(_APPLICANTS)
            program_id, program_name = rng.choice(programs)
            cas_id = str(rng.randrange(10**9, 10**10))
            documents.append(Document(cas_id, first, last, template.document_source_title, program_id, program_name))
        if outcome == "success_with_errors" and len(documents) > 1:
            missing = [i for i in range(len(documents)) if roll(self.seed, f"missing:{batch_id}", i) < 0.25]
            # At least one document is missing (that is the error), never all of them.
            missing = missing[: len(documents) - 1] or [int(roll(self.seed, "missing", batch_id) * len(documents))]
            documents = [document for i, document in enumerate(documents) if i not in missing]
        return documents

    # --- Changing -----------------------------------------------------------------------------------------------

    def start_batch(self, identity_id: int, template_id: int, outcome: str | None = None) -> BatchSnapshot:
        """A new batch of the identity's template, starting now (every call makes one). `outcome` (control API)
        chooses how it ends; a template whose list is empty or too large can end only one way."""
        if outcome is not None and outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
        with self._lock:
            template = self._templates.get(template_id)
            if template is None or template.identity_id != identity_id:
                raise LookupError("Not Found")
            only = _only_outcome(template)
            if outcome is not None and only is not None and outcome != only:
                raise ValueError(
                    f"template {template_id} lists {template.applicants:,} applicants: its batches end {only}"
                )
            now = self._clock()
            self._prune(identity_id, now)
            batch = self._new_batch(identity_id, template_id, now, outcome)
            started = StartedBatch(now, identity_id, template_id, batch.outcome)
            self.started_here.append(started)
            snapshot = self._snapshot(batch, now)
        if self._on_start is not None:
            self._on_start(started)
        return snapshot

    def force_state(self, batch_id: int, raw_state: str) -> BatchSnapshot:
        """Control API: pin a batch's state. Known states in any spelling are normalised; others stay raw."""
        with self._lock:
            now = self._clock()
            batch = self._batches.get(batch_id)
            if batch is None or not self._listed(batch, now):
                raise LookupError(f"PDF Manager batch '{batch_id}' not found.")
            batch.forced, batch.forced_at = canonical(raw_state, STATES), now
            return self._snapshot(batch, now)

    def started_within_retention(self) -> list[StartedBatch]:
        """The batches started through the API that are still listed, for the journal."""
        with self._lock:
            now = self._clock()
            self.started_here = [batch for batch in self.started_here if now - batch.started_at <= self.retention]
            return list(self.started_here)

    def replay(self, batches: Sequence[StartedBatch]) -> None:
        """Starts again, in their order, batches an earlier life of this world started through the API: they get
        the ids (and zip ids) they had. Batches of templates this world does not have (another seed) are skipped."""
        with self._lock:
            for started in sorted(batches, key=lambda batch: batch.started_at):
                template = self._templates.get(started.template_id)
                if template is None or template.identity_id != started.identity_id or started.outcome not in OUTCOMES:
                    continue
                self._new_batch(started.identity_id, started.template_id, started.started_at, started.outcome)
                self.started_here.append(started)

    def summary(self, identity_id: int) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for batch in self.batches(identity_id):
            counts[batch.state] = counts.get(batch.state, 0) + 1
        return {
            "pdf_manager_templates": len(self.templates(identity_id)),
            "pdf_manager_batches": sum(counts.values()),
            "pdf_manager_batches_by_state": counts,
        }


def _holding(batch: _Batch, state: str) -> str | None:
    """Which outcome's documents the batch holds in `state`: a downloadable state's own, else (while it runs, or
    forced to another state) those of the outcome it was drawn; None when that has no documents either."""
    if state in DOWNLOADABLE:
        return state
    return batch.outcome if batch.outcome in DOWNLOADABLE else None


def _only_outcome(template: SimTemplate) -> str | None:
    """How every batch of the template ends, when its list decides it: empty, or past what a batch may hold."""
    if template.applicants == 0:
        return "empty_list"
    if template.applicants > MAX_APPLICANTS:
        return "failed"
    return None


def _drawn_outcome(seed: int, batch_id: int) -> str:
    # Mostly available, as in real use, with some of each other ending a list of applicants allows.
    drawn = roll(seed, "batch-outcome", batch_id)
    return "available" if drawn < 0.80 else "success_with_errors" if drawn < 0.92 else "failed"


def _pdf_of(document: Document, batch_id: int) -> bytes:
    return minimal_pdf(
        [
            f"{document.first_name} {document.last_name}",
            f"CAS ID {document.cas_id}",
            document.source_title,
            f"{document.program_name} ({document.program_id})",
            f"WebAdMIT PDF Manager batch {batch_id} (simulated)",
        ]
    )
