"""The simulated WebAdMIT world: identities, exports and export files, deterministic from a seed.

Time drives everything and nothing runs in the background: a file's status is computed from its start time and the
clock (Initializing -> Queued -> In Progress -> outcome, one step per `pace` seconds), new runs are due every
`new_run_every` seconds since the world was built, and runs older than `retention` drop off. Reading the world is
therefore enough to move it, and a fake clock (or `advance`) moves it in tests without sleeping.

Built again with the same seed, epoch and world time, and with the runs started through the API replayed
(`StartedRun`, all a seed cannot redraw), a world is the same world: the same files with the same ids and statuses.
That is how the simulator carries on across restarts (simulator/journal.py).

PDF Manager's templates and batches live beside the exports, in `world.pdf_manager` (pdf_manager.py), on the same
clock and with the same pace and retention.

Statuses are kept in their canonical snake_case form here; the HTTP layer chooses the spelling. They are spelled out
again rather than imported from the client on purpose: the simulator is the client's contract test, and sharing the
table would let one mistake pass on both sides.
"""

from __future__ import annotations

import csv
import io
import random
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from html import escape
from typing import Any, Literal

from .contents import CHUNK_SIZE, COLUMNS, file_bytes
from .draws import canonical, roll
from .pdf_manager import PdfManager, StartedBatch

UNFINISHED = ("initializing", "queued", "in_progress")
OUTCOMES = ("available", "success_with_errors", "empty_list", "failed")
DOWNLOADABLE = ("available", "success_with_errors")
# The wire spellings: Title Case as WebAdMIT sends today, or the old documented lowercase.
TITLE_CASE = {status: status.replace("_", " ").title() for status in UNFINISHED + OUTCOMES}

FAULT_KINDS = (
    "key_rejected",
    "identity_not_found",
    "rate_limited",
    "server_error",
    "unavailable",
    "slow",
    "timeout",
    "malformed_json",
    "unknown_status",
    "cut_download",
)
# Faults that strike downloads from the fake S3, not API calls: `cut_download` sends `after_bytes` of the body
# (default: half) and then drops the connection, as a link dying mid-stream would look.
DOWNLOAD_FAULT_KINDS = ("cut_download",)
UNKNOWN_STATUS_TEXT = "Archived"
# The SPEC's names for the API's endpoints (E1-E7), and ours for PDF Manager's, which the SPEC lists unnumbered, in
# its order: P1 its templates, P2 one template, P3 starting a batch, P4 its batches, P5 one batch, P6 a zip's
# download. A fault can be aimed at one of them.
ENDPOINTS = ("E1", "E2", "E3", "E4", "E5", "E6", "E7", "P1", "P2", "P3", "P4", "P5", "P6")

_CYCLES = ("2025 - 2026", "2026 - 2027")
# (association, institution, organization); the first six cover the six CASs so small worlds show them all.
_PROGRAMS = (
    ("SOPHAS", "Boston University", "School of Public Health"),
    ("PharmCAS", "Purdue University", "College of Pharmacy"),
    ("ArchCAS", "Woodbury University", "Woodbury University"),
    ("CASPA", "Duke University", "Physician Assistant Program"),
    ("PTCAS", "Northeastern University", "Bouvé College of Health Sciences"),
    ("UniCAS", "Universidad del Sagrado Corazón", "Graduate Admissions"),
    ("SOPHAS", "Emory University", "Rollins School of Public Health"),
    ("PharmCAS", "University of Washington", "School of Pharmacy"),
    ("CASPA", "Quinnipiac University", "School of Health Sciences"),
    ("PTCAS", "Marquette University", "Doctor of Physical Therapy"),
    ("ArchCAS", "Tulane University", "School of Architecture"),
    ("UniCAS", "Marywood University", "Graduate Admissions"),
)
_EXPORT_NAMES = (
    "Nightly Banner Export",
    "Daily Decision Letters",
    "Weekly Interview Roster",
    "Prerequisite Audit",
    "Fee Waiver Report",
    "Slate Import",
    "Colleague Sync",
    "Verified GPA Summary",
    "Recommendation Tracker",
    "Program Director Review",
    "Deposit Reconciliation",
    "Incomplete Applications",
)
# (format, mime type, file extension), as WebAdMIT names them.
_FORMATS = (
    ("Comma-Separated Values", "text/csv;charset=iso-8859-1", "csv"),
    ("Microsoft Excel", "application/vnd.ms-excel", "xls"),
    ("Fixed Width Report", "text/plain", "txt"),
    ("CSV in multiple files", "application/zip", "zip"),
    ("HTML", "text/html", "html"),
)
_APPLICANTS = (
    ("José", "García"),
    ("Zoë", "Achterberg"),
    ("Lukas", "Müller"),
    ("François", "Lefèvre"),
    ("Siobhán", "O'Brien"),
    ("Björn", "Åkesson"),
    ("Anaïs", "Noël"),
    ("Nuño", "Peña"),
    ("Søren", "Kierkegård"),
    ("Chloé", "Dubois"),
    ("Maria", "Smith"),
    ("Renée", "Brontë"),
)
# Free text people can type into WebAdMIT, each hostile to one medium the dashboard writes to: a mail header (CR/LF),
# PostgreSQL (NUL, 10,000 characters for a varchar), HTML, a spreadsheet (a formula), Slack (<!channel>), Teams
# (markdown links), a reader (a right-to-left override that reverses what follows), and plain Unicode. A world built
# with hostile_names=True names its identities and exports with these (`--hostile-names`).
HOSTILE_NAMES = (
    "Decision Letters\r\nBcc: everyone@example.org",
    "Nightly\x00Banner Export",
    "Long name " * 1_000,
    "<script>alert(1)</script>",
    '=HYPERLINK("http://evil.example","x")',
    "<!channel> Deposit Report",
    "[Click here](https://evil.example)",
    "Roster \u202etxt.exe",
    "Décisions d\u2019admission 🎓",
)
_COLLEGES = ("Universidad de Sevilla", "Université Laval", "Ohio State University", "Technische Universität Wien")
_DECISIONS = ("Admitted", "Waitlisted", "Denied", "Under Review")


@dataclass(frozen=True, slots=True)
class SimIdentity:
    id: int
    type: str
    association: str | None
    institution: str | None
    organization: str | None
    cycle: str


@dataclass(frozen=True, slots=True)
class SimExport:
    id: int
    identity_id: int
    name: str
    list_type: str
    format: str
    mime_type: str
    extension: str

    @property
    def file_name(self) -> str:
        """The download's file name: the export's name on one line and cut short, as a file name must be."""
        line = "".join(" " if ord(char) < 32 or char == "\x7f" else char for char in self.name)
        return f"{' '.join(line.split())[:100]}.{self.extension}"


@dataclass(slots=True)
class _Run:
    id: int
    export_id: int
    started_at: float
    outcome: str
    # Set by force_status: a canonical status, or raw text the API never documented (e.g. "Archived").
    forced: str | None = None


@dataclass(frozen=True, slots=True)
class StartedRun:
    """A run started through E4 or the control API, as a world records it for a later replay."""

    started_at: float
    identity_id: int
    export_id: int
    outcome: str


@dataclass(frozen=True, slots=True)
class FileState:
    """An export file as of one instant. `status` is canonical snake_case, or raw text when forced to one."""

    id: int
    export_id: int
    status: str
    started_at: float


@dataclass(slots=True)
class Fault:
    """An injected failure. `times` None means until cleared; `endpoint` None means every endpoint; `file_id` is
    the file an unknown_status changed; `after_bytes` is how much of a body a cut_download lets through (None:
    half)."""

    id: int
    kind: str
    identity_id: int | None = None
    times: int | None = None
    seconds: float | None = None
    endpoint: str | None = None
    file_id: int | None = None
    previous_status: str | None = None
    after_bytes: int | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("previous_status")
        return data


@dataclass(frozen=True, slots=True)
class Download:
    """A file behind a download URL. Its `size` bytes come from `chunks()`, made as they are read, so a large file
    is never held whole: `rendered` is the small seeded file of a world without a file size, None when the bytes
    are `contents.file_bytes(file_id, size, content_type)`."""

    file_id: int
    content_type: str
    filename: str
    size: int
    rendered: bytes | None = None

    def chunks(self, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        if self.rendered is None:
            yield from file_bytes(self.file_id, self.size, self.content_type, chunk_size)
            return
        for start in range(0, len(self.rendered), chunk_size):
            yield self.rendered[start : start + chunk_size]

    @property
    def body(self) -> bytes:
        """The whole file in memory: for small files and tests."""
        return self.rendered if self.rendered is not None else b"".join(self.chunks())


class SimulatedWorld:
    """Everything the simulated WebAdMIT knows. Thread-safe: every public method holds one lock."""

    def __init__(
        self,
        seed: int = 1,
        identities: int = 6,
        files_per_identity: int = 8,
        *,
        pace: float = 20.0,
        new_run_every: float | None = 60.0,
        retention: float = 7 * 24 * 3600.0,
        initial: Literal["mix", "settled"] = "mix",
        hostile_names: bool = False,
        clock: Callable[[], float] = time.time,
        epoch: float | None = None,
        world_time: float | None = None,
        on_start: Callable[[StartedRun | StartedBatch], None] | None = None,
        file_size: int | None = None,
    ) -> None:
        """`epoch` is when the world began (default: now) and `world_time` the instant it resumes at (default: the
        clock's), so a world rebuilt after a pause carries on where it stopped rather than jumping over the pause.
        `on_start` hears of every run and PDF Manager batch started through the API or the control API.
        `file_size` (bytes) makes every download that size, its bytes deterministic per file (see contents.py); None
        keeps the small seeded files."""
        if identities < 1 or files_per_identity < 0:
            raise ValueError("a world needs at least one identity, and no negative number of files")
        if initial not in ("mix", "settled"):
            raise ValueError(f"initial must be 'mix' or 'settled', not {initial!r}")
        self.seed = seed
        self.hostile_names = hostile_names
        self.file_size = _checked_file_size(file_size)
        self.pace = max(pace, 0.0)
        self.new_run_every = new_run_every if new_run_every and new_run_every > 0 else None
        self.retention = retention
        self._clock = clock
        self._offset = 0.0 if world_time is None else world_time - clock()
        self._on_start = on_start
        self.started_here: list[StartedRun] = []
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._identities: dict[int, SimIdentity] = {}
        self._exports: dict[int, SimExport] = {}
        self._exports_of: dict[int, list[SimExport]] = {}
        self._runs: dict[int, _Run] = {}
        self._runs_of: dict[int, list[_Run]] = {}
        self._faults: list[Fault] = []
        self._fault_serial = 0
        self.created_at = self.now() if epoch is None else epoch
        self._last_prune = self.created_at
        self._scheduled = 0  # how many of the periodic new runs exist so far
        rng = random.Random(seed)
        self._build(rng, identities, files_per_identity, initial)
        self.pdf_manager = PdfManager(
            seed=seed,
            identity_ids=list(self._identities),
            clock=self.now,
            pace=self.pace,
            retention=self.retention,
            created_at=self.created_at,
            initial=initial,
            hostile_names=HOSTILE_NAMES if hostile_names else None,
            on_start=on_start,
        )

    # --- Building ---------------------------------------------------------------------------------------------

    def _build(self, rng: random.Random, identities: int, files: int, initial: str) -> None:
        used_ids: set[int] = set()

        def fresh(low: int, high: int) -> int:
            while True:
                candidate = rng.randrange(low, high)
                if candidate not in used_ids:
                    used_ids.add(candidate)
                    return candidate

        for index in range(identities):
            # Ids must exercise 64-bit handling: some above 2**31, exactly one above 2**40.
            if index == 1:
                identity_id = fresh(2**40, 2**40 + 10**6)
            elif index % 3 == 2:
                identity_id = fresh(2**31, 2**31 + 10**8)
            else:
                identity_id = fresh(100_000, 1_000_000)
            self._add_identity(index, identity_id, rng)
            # One export of each format, so every format the SPEC lists can be downloaded from every identity.
            names = rng.sample(_EXPORT_NAMES, len(_FORMATS))
            if self.hostile_names:
                names = [_hostile(index * len(_FORMATS) + number) for number in range(len(_FORMATS))]
            for number, ((fmt, mime, ext), name) in enumerate(zip(_FORMATS, names, strict=True)):
                # Programs carry 14-digit ids in WebAdMIT; give some exports such ids too.
                export_id = fresh(10**13, 10**14) if (index + number) % 7 == 6 else fresh(100_000, 1_000_000)
                export = SimExport(export_id, identity_id, name, "all", fmt, mime, ext)
                self._exports[export_id] = export
                self._exports_of[identity_id].append(export)

        # Draw every initial run, then number them in start order so a newer run has a higher id, as in WebAdMIT.
        settled_before = self.created_at - 3 * self.pace - 1
        oldest = self.created_at - 0.9 * self.retention
        drafts: list[tuple[float, int, int]] = []
        for identity_id, its_exports in self._exports_of.items():
            for number in range(files):
                export = its_exports[number % len(its_exports)]
                if initial == "mix" and number < 2:
                    started = self.created_at - rng.uniform(0, 3 * self.pace)
                else:
                    started = rng.uniform(min(oldest, settled_before), settled_before)
                drafts.append((started, identity_id, export.id))
        drafts.sort()
        self._next_file_id = rng.randrange(200_000, 300_000)
        for started, identity_id, export_id in drafts:
            self._new_run(identity_id, export_id, started)

    def _add_identity(self, index: int, identity_id: int, rng: random.Random) -> None:
        program = _PROGRAMS[index] if index < len(_PROGRAMS) else rng.choice(_PROGRAMS)
        association, institution, organization = program[0], program[1], program[2]
        if self.hostile_names:
            association, institution, organization = _hostile(index), _hostile(index + 2), _hostile(index + 4)
        institution_or_none: str | None = institution
        organization_or_none: str | None = organization
        kind = "Admissions User"
        if index % 6 == 4:
            kind, institution_or_none, organization_or_none = "Association User", None, None
        elif index % 6 == 5:
            kind, organization_or_none = "Institution User", None
        cycle = _CYCLES[1] if index % 3 else _CYCLES[0]
        self._identities[identity_id] = SimIdentity(
            identity_id, kind, association, institution_or_none, organization_or_none, cycle
        )
        self._exports_of[identity_id] = []
        self._runs_of[identity_id] = []

    def _new_run(self, identity_id: int, export_id: int, started_at: float, outcome: str | None = None) -> _Run:
        file_id = self._next_file_id
        self._next_file_id += 1
        if outcome is None:
            # Mostly Available, as in real use, with enough of each other outcome to see them on a page.
            drawn = roll(self.seed, "outcome", file_id)
            outcome = OUTCOMES[0 if drawn < 0.70 else 1 if drawn < 0.82 else 2 if drawn < 0.92 else 3]
        run = _Run(file_id, export_id, started_at, outcome)
        self._runs[file_id] = run
        self._runs_of[identity_id].append(run)
        return run

    # --- Time ---------------------------------------------------------------------------------------------------

    def now(self) -> float:
        return self._clock() + self._offset

    def advance(self, seconds: float) -> float:
        """Fast-forward the world (for demos and tests); returns the new time."""
        with self._lock:
            self._offset += seconds
            return self.now()

    def _catch_up(self, until: float | None = None) -> float:
        """Bring the world to now (or to `until`, when replaying): add the periodic runs that are due, drop expired
        ones. Call under the lock."""
        now = self.now() if until is None else until
        if self.new_run_every is not None:
            due = int((now - self.created_at) // self.new_run_every)
            # Runs that would already be past retention are never created, so a long jump stays cheap.
            first = max(self._scheduled + 1, int((now - self.retention - self.created_at) // self.new_run_every))
            identity_ids = list(self._identities) if first <= due else []
            for number in range(first, due + 1):
                identity_id = identity_ids[int(roll(self.seed, "who", number) * len(identity_ids))]
                exports = self._exports_of[identity_id]
                export = exports[int(roll(self.seed, "what", number) * len(exports))]
                self._new_run(identity_id, export.id, self.created_at + number * self.new_run_every)
            self._scheduled = max(self._scheduled, due)
        if now - self._last_prune >= min(60.0, self.retention / 10):
            self._last_prune = now
            for identity_id in self._runs_of:
                self._prune(identity_id, now)
        return now

    def _prune(self, identity_id: int, now: float) -> list[_Run]:
        kept = []
        for run in self._runs_of[identity_id]:
            if now - run.started_at <= self.retention:
                kept.append(run)
            else:
                self._runs.pop(run.id, None)
        self._runs_of[identity_id] = kept
        return kept

    def _state(self, run: _Run, now: float) -> FileState:
        return FileState(run.id, run.export_id, self._status(run, now), run.started_at)

    def _status(self, run: _Run, now: float) -> str:
        if run.forced is not None:
            return run.forced
        if self.pace <= 0:
            return run.outcome
        step = int((now - run.started_at) // self.pace)
        return UNFINISHED[max(step, 0)] if step < len(UNFINISHED) else run.outcome

    # --- Reading ----------------------------------------------------------------------------------------------

    def identities(self) -> list[SimIdentity]:
        with self._lock:
            return list(self._identities.values())

    def identity(self, identity_id: int) -> SimIdentity | None:
        with self._lock:
            return self._identities.get(identity_id)

    def exports(self, identity_id: int | None = None) -> list[SimExport]:
        """One identity's exports (or everyone's), newest first as WebAdMIT lists them: highest id first, since
        WebAdMIT's ids grow with time. (The seeded ids are drawn at random, so the order they were built in says
        nothing about which is newer.)"""
        with self._lock:
            exports = self._exports.values() if identity_id is None else self._exports_of.get(identity_id, [])
            return sorted(exports, key=lambda export: export.id, reverse=True)

    def export(self, export_id: int) -> SimExport | None:
        with self._lock:
            return self._exports.get(export_id)

    def files(self, identity_id: int, export_id: int | None = None) -> list[FileState]:
        """The identity's recent files, newest first (empty for an unknown identity)."""
        with self._lock:
            if identity_id not in self._runs_of:
                return []
            now = self._catch_up()
            runs = self._prune(identity_id, now)
            states = [self._state(run, now) for run in runs if export_id is None or run.export_id == export_id]
        states.sort(key=lambda state: (state.started_at, state.id), reverse=True)
        return states

    def file(self, file_id: int) -> FileState | None:
        """One file, or None once it is unknown or past retention."""
        with self._lock:
            now = self._catch_up()
            run = self._runs.get(file_id)
            if run is None or now - run.started_at > self.retention:
                return None
            return self._state(run, now)

    # --- Changing -----------------------------------------------------------------------------------------------

    def start_run(self, identity_id: int, export_id: int) -> FileState:
        """E4: start a run of an export, or return the unfinished run it already has."""
        with self._lock:
            self._check_export(identity_id, export_id)
            now = self._catch_up()
            for run in reversed(self._prune(identity_id, now)):
                if run.export_id == export_id and self._status(run, now) in UNFINISHED:
                    return self._state(run, now)
            return self._state(self._started_here(identity_id, export_id, now), now)

    def add_run(self, identity_id: int, export_id: int | None = None, outcome: str | None = None) -> FileState:
        """Control API: always add a new run (of a chosen or deterministic export), starting now."""
        if outcome is not None and outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
        with self._lock:
            if identity_id not in self._identities:
                raise LookupError(f"User identity '{identity_id}' not found.")
            if export_id is None:
                exports = self._exports_of[identity_id]
                export_id = exports[int(roll(self.seed, "pick", self._next_file_id) * len(exports))].id
            self._check_export(identity_id, export_id)
            now = self._catch_up()
            return self._state(self._started_here(identity_id, export_id, now, outcome), now)

    def _started_here(self, identity_id: int, export_id: int, now: float, outcome: str | None = None) -> _Run:
        run = self._new_run(identity_id, export_id, now, outcome)
        started = StartedRun(run.started_at, identity_id, export_id, run.outcome)
        self.started_here.append(started)
        if self._on_start is not None:
            self._on_start(started)
        return run

    def started_within_retention(self) -> tuple[float, list[StartedRun]]:
        """The world's time and the runs started through the API that are still listed, for the journal (the
        others are forgotten here, so a long-running simulator does not keep them all)."""
        with self._lock:
            now = self.now()
            self.started_here = [run for run in self.started_here if now - run.started_at <= self.retention]
            return now, list(self.started_here)

    def replay(self, runs: list[StartedRun]) -> None:
        """Starts again, at their times and in their order, runs an earlier life of this world started through the
        API: interleaved with the periodic runs as they were, they get the ids they had (WebAdMIT's ids grow with
        time). Runs of exports this world does not have (another seed) are skipped."""
        with self._lock:
            for run in sorted(runs, key=lambda run: run.started_at):
                export = self._exports.get(run.export_id)
                if export is None or export.identity_id != run.identity_id:
                    continue
                self._catch_up(until=run.started_at)
                self._new_run(run.identity_id, run.export_id, run.started_at, run.outcome)
                self.started_here.append(run)

    def force_status(self, file_id: int, raw_status: str) -> FileState:
        """Control API: pin a file's status. Known statuses in any spelling are normalised; others stay raw."""
        with self._lock:
            now = self._catch_up()
            run = self._runs.get(file_id)
            if run is None:
                raise LookupError(f"Export file '{file_id}' not found.")
            run.forced = canonical(raw_status, TITLE_CASE)
            return self._state(run, now)

    def _check_export(self, identity_id: int, export_id: int) -> None:
        if identity_id not in self._identities:
            raise LookupError(f"User identity '{identity_id}' not found.")
        export = self._exports.get(export_id)
        if export is None or export.identity_id != identity_id:
            raise LookupError("Not Found")

    # --- Faults -------------------------------------------------------------------------------------------------

    def add_fault(
        self,
        kind: str,
        identity_id: int | None = None,
        times: int | None = None,
        seconds: float | None = None,
        endpoint: str | None = None,
        after_bytes: int | None = None,
    ) -> Fault:
        """Inject a failure into API calls (all, those about one identity, those to one endpoint such as "E3", or
        both) until cleared or used `times`; a download fault (`cut_download`) strikes downloads instead, of all
        files or of one identity's.

        `unknown_status` is not a per-call fault: it immediately gives the identity's newest file (the first
        identity's when none is named) a status WebAdMIT never documented, until the faults are cleared.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1")
        if seconds is not None and seconds < 0:
            raise ValueError("seconds must not be negative")
        if endpoint is not None and endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {', '.join(ENDPOINTS)}")
        if kind in DOWNLOAD_FAULT_KINDS and endpoint is not None:
            raise ValueError(f"{kind} strikes downloads, which are not an API endpoint: give no endpoint")
        if after_bytes is not None and kind != "cut_download":
            raise ValueError("after_bytes is for cut_download only")
        if after_bytes is not None and after_bytes < 0:
            raise ValueError("after_bytes must not be negative")
        with self._lock:
            if identity_id is not None and identity_id not in self._identities:
                raise LookupError(f"User identity '{identity_id}' not found.")
            self._fault_serial += 1
            fault = Fault(self._fault_serial, kind, identity_id, times, seconds, endpoint, after_bytes=after_bytes)
            if kind == "unknown_status":
                target = identity_id if identity_id is not None else next(iter(self._identities))
                newest = self.files(target)
                if newest:
                    run = self._runs[newest[0].id]
                    fault.file_id, fault.previous_status = run.id, run.forced
                    run.forced = UNKNOWN_STATUS_TEXT
            self._faults.append(fault)
            return fault

    def faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def clear_faults(self) -> int:
        """Remove every fault, undo unknown statuses and wake requests that a fault holds asleep."""
        with self._lock:
            cleared = len(self._faults)
            for fault in self._faults:
                if fault.file_id is not None and fault.file_id in self._runs:
                    self._runs[fault.file_id].forced = fault.previous_status
            self._faults.clear()
        self.wake_sleepers()
        return cleared

    def take_fault(self, identity_id: int | None, endpoint: str | None = None) -> Fault | None:
        """The first fault that applies to a call to `endpoint` about `identity_id` (None: not about one), using
        it up once."""
        return self._take(identity_id, endpoint, downloads=False)

    def take_download_fault(self, identity_id: int | None) -> Fault | None:
        """The first download fault that applies to a download of a file of `identity_id`, using it up once."""
        return self._take(identity_id, None, downloads=True)

    def _take(self, identity_id: int | None, endpoint: str | None, *, downloads: bool) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.kind == "unknown_status" or (fault.kind in DOWNLOAD_FAULT_KINDS) != downloads:
                    continue
                if fault.identity_id is not None and fault.identity_id != identity_id:
                    continue
                if fault.endpoint is not None and fault.endpoint != endpoint:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                return fault
            return None

    def sleep(self, seconds: float) -> None:
        """Sleep for a slow or hanging call, waking early when faults are cleared or the server stops."""
        with self._lock:
            wake = self._wake
        wake.wait(seconds)

    def wake_sleepers(self) -> None:
        with self._lock:
            self._wake.set()
            self._wake = threading.Event()

    # --- Downloads and summary ------------------------------------------------------------------------------

    def download(self, file_id: int) -> Download | None:
        """The file behind a download URL, or None when it is gone or has nothing to download."""
        state = self.file(file_id)
        if state is None or state.status not in DOWNLOADABLE:
            return None
        export = self._exports[state.export_id]  # exports never change after the build
        size = self.file_size
        if size is not None:
            return Download(file_id, export.mime_type, export.file_name, size)
        rendered = _render(export, _applicant_rows(random.Random(f"{self.seed}:{file_id}")))
        return Download(file_id, export.mime_type, export.file_name, len(rendered), rendered)

    def set_file_size(self, size: int | None) -> None:
        """Control API: the size of downloads from now on (None: the small seeded files)."""
        self.file_size = _checked_file_size(size)

    def summary(self) -> dict[str, Any]:
        with self._lock:
            identities = []
            for identity in self._identities.values():
                counts: dict[str, int] = {}
                for state in self.files(identity.id):
                    counts[state.status] = counts.get(state.status, 0) + 1
                identities.append(
                    {
                        **asdict(identity),
                        "exports": len(self._exports_of[identity.id]),
                        "files": sum(counts.values()),
                        "by_status": counts,
                        **self.pdf_manager.summary(identity.id),
                    }
                )
            return {
                "now": self.now(),
                "seed": self.seed,
                "pace": self.pace,
                "new_run_every": self.new_run_every,
                "retention": self.retention,
                "identities": identities,
                "faults": [fault.as_dict() for fault in self._faults],
            }


def _checked_file_size(size: int | None) -> int | None:
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise ValueError(f"file_size must be a whole number of bytes, at least 1, not {size!r}")
    return size


def _hostile(number: int) -> str:
    return HOSTILE_NAMES[number % len(HOSTILE_NAMES)]


# --- File contents --------------------------------------------------------------------------------------------


def _applicant_rows(rng: random.Random) -> list[list[str]]:
    rows = []
    for _ in range(rng.randint(3, 7)):
        first, last = rng.choice(_APPLICANTS)
        colleges = rng.sample(_COLLEGES, rng.randint(1, 3))
        recommender_first, recommender_last = rng.choice(_APPLICANTS)
        rows.append(
            [
                str(rng.randrange(10**9, 10**10)),
                first,
                last,
                f"applicant{rng.randrange(1000, 9999)}@example.org",
                rng.choice(_DECISIONS),
                f"{rng.uniform(2.8, 4.0):.2f}",
                *[*colleges, "", "", ""][:3],
                f"{recommender_first} {recommender_last}",
                "",
            ]
        )
    return rows


def _csv(rows: list[list[str]], delimiter: str = ",") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    # WebAdMIT's CSV is Latin-1 (its mime type says so); a UTF-8 reader would mangle "José".
    return buffer.getvalue().encode("iso-8859-1", errors="replace")


def _render(export: SimExport, rows: list[list[str]]) -> bytes:
    if export.extension == "csv":
        return _csv(rows)
    if export.extension == "xls":
        return _csv(rows, delimiter="\t")
    if export.extension == "txt":
        widths = [max(len(row[i]) for row in [list(COLUMNS), *rows]) + 2 for i in range(len(COLUMNS))]
        lines = [
            "".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in [list(COLUMNS), *rows]
        ]
        return ("\r\n".join(lines) + "\r\n").encode("iso-8859-1", errors="replace")
    if export.extension == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            half = max(len(rows) // 2, 1)
            stem = export.file_name.removesuffix(".zip")
            archive.writestr(f"{stem}_1.csv", _csv(rows[:half]))
            archive.writestr(f"{stem}_2.csv", _csv(rows[half:]))
        return buffer.getvalue()
    cells = "".join(f"<th>{escape(column)}</th>" for column in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    title = escape(export.name)
    page = f"<html><head><meta charset='utf-8'><title>{title}</title></head><body><table><tr>{cells}</tr>"
    return (page + body + "</table></body></html>").encode()
