"""Many open tabs' polls from one light process: an asyncio HTTP/1.1 client over a bounded pool of keep-alive
connections, tabs that follow the poll address as htmx does, and one open-loop step of polls measured from when
each was due.

Only GET, and only what a Django app behind gunicorn answers: a status line, headers, then a body by Content-Length,
chunked, or up to the connection's end. Nothing is installed for it: aiohttp and httpx are not here, and a pool, a
parser and a scheduler are a page each.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import heapq
import itertools
import math
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchmarks._cpu import TICKS_PER_SECOND, CpuSample
from benchmarks._page import poll_path

USER_AGENT = "webadmit-dash-benchmark (tabs)"
# How often a visible tab asks (the page's data-poll-every, static/js/app.js); a hidden tab asks less.
POLL_EVERY = 3.0


# A tick of a tab's clock while its last poll is still in flight: htmx drops it (the poller's hx-sync, "abort":
# drop a request while one is in flight). It is counted with its latency to that poll's answer, which is when
# the tab heard anything: no coordinated omission.
DROPPED = -1


class HttpError(Exception):
    """The server answered what is not HTTP/1.x, or closed the connection part way through an answer."""


class Closed(HttpError):
    """The connection was closed before an answer began: on a kept connection, the server had closed it as idle."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


def percentile(values: list[float], share: float) -> float:
    """The value `share` of the way up the sorted values (the nearest rank at or above it), as web_threads reads it."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class Connection:
    """One keep-alive connection, asked one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def get(self, request: bytes) -> tuple[Answer, bool]:
        """Sends the request; returns the answer and whether the connection may be used again."""
        try:
            self.writer.write(request)
            await self.writer.drain()
            status_line = await self.reader.readline()
        except ConnectionError as error:
            raise Closed(str(error)) from error
        if not status_line:
            raise Closed("the connection was closed")
        version, _, rest = status_line.decode("latin-1").partition(" ")
        if not version.startswith("HTTP/1."):
            raise HttpError(f"not an HTTP/1.x answer: {status_line[:60]!r}")
        status = int(rest.split(" ", 1)[0])
        headers = await self._headers()
        reusable = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        if status in (204, 304) or 100 <= status < 200:
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = await self._chunked()
        elif "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        else:
            body, reusable = await self.reader.read(), False
        return Answer(status, body), reusable

    async def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n"):
                return headers
            if not line:
                raise HttpError("the connection was closed in the headers")
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()

    async def _chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int((await self.reader.readline()).split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                await self._headers()  # trailers, if any, up to the blank line
                return b"".join(chunks)
            chunks.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)  # the chunk's CRLF

    def close(self) -> None:
        self.writer.close()


class Pool:
    """At most `size` keep-alive connections, as a reverse proxy keeps to its upstream; a request waits for one."""

    def __init__(self, base_url: str, size: int, headers: dict[str, str], timeout: float = 30.0) -> None:
        address = base_url.removeprefix("http://").rstrip("/")
        self.host, _, port = address.partition(":")
        self.port = int(port or 80)
        self.timeout = timeout
        self.origin = f"http://{address}"
        self._headers = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._slots = asyncio.Semaphore(size)
        self._idle: list[Connection] = []
        self.opened = 0

    async def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUser-Agent: {USER_AGENT}\r\n"
            f"{self._headers}{extra}\r\n"
        ).encode("latin-1")
        async with self._slots:
            kept = self._idle.pop() if self._idle else None
            connection = kept
            try:
                async with asyncio.timeout(self.timeout):
                    connection = connection or await self._open()
                    try:
                        answer, reusable = await connection.get(request)
                    except Closed:
                        if connection is not kept:
                            raise
                        # gunicorn closes a kept connection after a few idle seconds: a GET is safe to send again
                        # on a new one, as browsers and proxies do.
                        connection.close()
                        connection = await self._open()
                        answer, reusable = await connection.get(request)
            except BaseException:
                if connection is not None:
                    connection.close()  # an error, a timeout or a cancellation leaves the answer half read
                raise
            if reusable:
                self._idle.append(connection)
            else:
                connection.close()
            return answer

    async def _open(self) -> Connection:
        self.opened += 1
        return await Connection.open(self.host, self.port)

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()


@dataclass
class Tab:
    """An open Recent Files page: the address its poller asks, when its clock next ticks (seconds into the run),
    and its poll in flight (which answers the tab's status)."""

    path: str
    next_due: float
    in_flight: asyncio.Task[int] | None = None


@dataclass
class Poll:
    due: float  # seconds into the step
    latency: float  # seconds from `due` to the whole answer read
    done: float  # seconds into the step
    status: int  # 0: no answer (refused, reset, timed out); DROPPED: not sent, the tab's last poll was in flight


@dataclass
class Step:
    """What one rate of polls measured; times in seconds (generator CPU too), the server's CPU in clock ticks."""

    rate: float
    tabs: int
    seconds: float
    polls: list[Poll] = field(default_factory=list)
    cpu: list[tuple[float, CpuSample]] = field(default_factory=list)  # (seconds into the step, the server's so far)
    generator_cpu: float = 0.0  # seconds of this process's CPU over the measured polls
    send_lag: list[float] = field(default_factory=list)  # how late the generator sent each measured poll
    opened_at: float = 0.0  # time.time() when the tabs began to open (their page loads)
    wall_start: float = 0.0  # time.time() when the measured seconds began
    missing_poller: int = 0  # 200s with no poll address in them (the tab kept its old one)
    errors: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, Any]:
        latencies = [poll.latency * 1000 for poll in self.polls]
        statuses = Counter(poll.status for poll in self.polls)
        answered = sum(count for status, count in statuses.items() if status > 0)
        sent = len(self.polls) - statuses[DROPPED]
        server_ms = unchanged_ms = render_ms = others = database_ms = database_unchanged_ms = None
        shares: list[float] = []
        if len(self.cpu) >= 2 and answered:
            (began, first), (ended, last) = self.cpu[0], self.cpu[-1]
            server = last.group - first.group
            server_ms = server / TICKS_PER_SECOND * 1000 / answered
            unchanged_ms = self._unchanged_ms(lambda later, earlier: later.group - earlier.group)
            database = last.database_since(first)
            if last.database:
                database_ms = database / TICKS_PER_SECOND * 1000 / answered
                database_unchanged_ms = self._unchanged_ms(CpuSample.database_since)
            if unchanged_ms is not None and statuses[200]:
                # The rest of the CPU over the 200s: what a render costs, roughly (other statuses count as 204s).
                render_ms = (server_ms * answered - unchanged_ms * (answered - statuses[200])) / statuses[200]
            used = {pid: ticks - first.processes.get(pid, 0) for pid, ticks in last.processes.items()}
            shares = sorted((100 * ticks / server for ticks in used.values() if server), reverse=True)
            # Whatever else ran on the machine meanwhile (other processes than the server, its database and this
            # one), in cores.
            elsewhere = (last.machine - first.machine - server - database) / TICKS_PER_SECOND
            others = (elsewhere - self.generator_cpu) / (ended - began)
        return {
            "rate": self.rate,
            "tabs": self.tabs,
            "seconds": self.seconds,
            "due": len(self.polls),
            "sent": sent,
            "dropped": statuses[DROPPED],
            "p50_ms": percentile(latencies, 0.5) if latencies else None,
            "p99_ms": percentile(latencies, 0.99) if latencies else None,
            "max_ms": max(latencies) if latencies else None,
            "p99_204_ms": _p99([poll.latency * 1000 for poll in self.polls if poll.status == 204]),
            "p99_200_ms": _p99([poll.latency * 1000 for poll in self.polls if poll.status == 200]),
            "status_200": statuses[200],
            "status_204": statuses[204],
            "status_other": sum(count for status, count in statuses.items() if status not in NOT_OTHER),
            "other_statuses": sorted(status for status in statuses if status not in NOT_OTHER),
            "errors": statuses[0],
            "error_kinds": dict(self.errors),
            "server_cpu_ms_per_poll": server_ms,
            "server_cpu_ms_per_unchanged_poll": unchanged_ms,
            "server_cpu_ms_per_200_estimate": render_ms,
            "database_cpu_ms_per_poll": database_ms,
            "database_cpu_ms_per_unchanged_poll": database_unchanged_ms,
            "server_cpu_shares": shares,  # per process of the server, % of its CPU, busiest first
            "others_cores": others,
            "generator_cpu_ms_per_poll": self.generator_cpu * 1000 / sent if sent else None,
            "send_lag_p99_ms": _p99([lag * 1000 for lag in self.send_lag]),
            "missing_poller": self.missing_poller,
            "minute_turns": self.minute_turns(),
        }

    def minute_turns(self) -> list[float]:
        """When the clock's minute turned from the tabs' opening to the end, in seconds into the measured ones (less
        than 0: in the opening or the warm-up): the poll address carries the minute its page or poll was rendered
        in, so every tab's next poll after a turn answers 200, with a render."""
        since = self.opened_at or self.wall_start
        first = math.ceil(since / 60) * 60
        turns = itertools.takewhile(lambda turn: turn < self.wall_start + self.seconds, itertools.count(first, 60))
        return [turn - self.wall_start for turn in turns]

    def _unchanged_ms(self, used: Callable[[CpuSample, CpuSample], int]) -> float | None:
        """CPU per poll (`used` between two samples: the server's or its database's) over the seconds where every
        answer was a 204, and so were the seconds either side (a re-render started in one second may be answered in
        the next): what an unchanged poll costs."""
        seconds = len(self.cpu) - 1
        bounds = [at for at, _ in self.cpu]
        answered: list[Counter[int]] = [Counter() for _ in range(seconds)]
        for poll in self.polls:
            if poll.status == DROPPED:
                continue  # not a request: no server CPU of its own
            index = min(max(bisect.bisect_right(bounds, poll.done) - 1, 0), seconds - 1)
            answered[index][poll.status] += 1
        changed = {i for i, statuses in enumerate(answered) if set(statuses) - {204}}
        clean = [i for i in range(seconds) if not changed & {i - 1, i, i + 1}]
        polls = sum(answered[i][204] for i in clean)
        if not polls:
            return None
        ticks = sum(used(self.cpu[i + 1][1], self.cpu[i][1]) for i in clean)
        return ticks / TICKS_PER_SECOND * 1000 / polls


NOT_OTHER = (DROPPED, 0, 200, 204)


def _p99(values: list[float]) -> float | None:
    return percentile(values, 0.99) if values else None


class Tabs:
    """`count` tabs of the same signed-in user, polling every `every` seconds, each at a random phase."""

    def __init__(self, pool: Pool, count: int, rng: random.Random, every: float = POLL_EVERY) -> None:
        self.pool, self.count, self.rng, self.every = pool, count, rng, every
        self.tabs: list[Tab] = []
        self.poll_headers = {"HX-Request": "true", "HX-Current-URL": f"{pool.origin}/"}

    async def open(self, page: str, tabs_per_page: int) -> int:
        """Opens the tabs: one page load per `tabs_per_page` tabs (each tab keeps its own address from then on), each
        tab's clock at a random phase. Returns the pages loaded."""

        async def load(_: int) -> str:
            answer = await self.pool.get(page)
            path = poll_path(answer.body.decode()) if answer.status == 200 else None
            if not path:
                raise SystemExit(f"benchmark: {page} answered {answer.status} without a poller (not signed in?)")
            return path

        pages = -(-self.count // tabs_per_page)
        paths = await asyncio.gather(*(load(n) for n in range(pages)))
        self.tabs = [Tab(paths[n // tabs_per_page], self.rng.uniform(0, self.every)) for n in range(self.count)]
        return pages

    async def run(
        self, step: Step, warm_up: float, server_cpu: Callable[[], CpuSample] | None, sample_every: float = 1.0
    ) -> None:
        """Polls for `warm_up` seconds unmeasured, then `step.seconds` measured; returns once the measured polls are
        answered. Open loop: each tab's clock ticks every `every` seconds whatever the answers, as static/js/app.js's
        does, and a tick sends a poll unless the tab's last one is still in flight (DROPPED)."""
        loop = asyncio.get_running_loop()
        start = time.monotonic()
        measured_from = start + warm_up
        clock = [(tab.next_due, n) for n, tab in enumerate(self.tabs)]
        heapq.heapify(clock)
        pending: set[asyncio.Task[int]] = set()
        sampler: asyncio.Task[None] | None = None
        cpu_start: float | None = None

        def restart(n: int) -> None:
            # A 200 swaps a new poller in out of band, and a new poller starts its own clock (app.js).
            tab = self.tabs[n]
            tab.next_due = time.monotonic() - start + self.every
            heapq.heappush(clock, (tab.next_due, n))

        while clock:
            due, n = heapq.heappop(clock)
            if due >= warm_up + step.seconds:
                break
            tab = self.tabs[n]
            if due != tab.next_due:
                continue  # a tick of a clock restarted since
            tab.next_due = due + self.every
            heapq.heappush(clock, (tab.next_due, n))
            late = time.monotonic() - start - due
            if late < -0.001:
                await asyncio.sleep(-late)
                late = time.monotonic() - start - due
            measured = due >= warm_up
            if measured and cpu_start is None:
                # The measured window opens: CPU counts from here on, the server's sampled every second.
                cpu_start = time.process_time()
                step.wall_start = time.time() - (time.monotonic() - measured_from)
                if server_cpu is not None:
                    sampler = loop.create_task(self._sample(step, server_cpu, measured_from, sample_every))
            record = step if measured else None
            if tab.in_flight is not None and not tab.in_flight.done():
                task = loop.create_task(self._dropped(tab.in_flight, due - warm_up, record, measured_from))
            else:
                if measured:
                    step.send_lag.append(max(0.0, late))
                task = tab.in_flight = loop.create_task(
                    self.poll(tab, due - warm_up, record, measured_from, functools.partial(restart, n))
                )
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
        if sampler is not None:
            sampler.cancel()
        if server_cpu is not None:
            step.cpu.append((time.monotonic() - measured_from, server_cpu()))
        step.generator_cpu = time.process_time() - (cpu_start or time.process_time())

    async def poll(
        self, tab: Tab, due: float, step: Step | None, start: float, restart_clock: Callable[[], None]
    ) -> int:
        """One poll, timed from `due` (seconds after `start`), whenever it got a connection; a 200 moves the tab to
        the poll address in its answer, as htmx swaps the poller in out of band. Returns the status (0: none)."""
        answer = None
        try:
            answer = await self.pool.get(tab.path, self.poll_headers)
        except (OSError, HttpError, asyncio.IncompleteReadError) as error:  # TimeoutError is an OSError
            if step is not None:
                step.errors[type(error).__name__] += 1
        done = time.monotonic() - start
        if answer is not None and answer.status == 200:
            path = poll_path(answer.body.decode())
            if path:
                tab.path = path
                restart_clock()
            elif step is not None:
                step.missing_poller += 1
        status = answer.status if answer else 0
        if step is not None:
            step.polls.append(Poll(due, done - due, done, status))
        return status

    @staticmethod
    async def _dropped(in_flight: asyncio.Task[int], due: float, step: Step | None, start: float) -> int:
        await asyncio.wait({in_flight})  # not `await in_flight`: that would cancel it with this task
        done = time.monotonic() - start
        if step is not None:
            step.polls.append(Poll(due, done - due, done, DROPPED))
        return DROPPED

    @staticmethod
    async def _sample(step: Step, server_cpu: Callable[[], CpuSample], since: float, every: float) -> None:
        while True:
            step.cpu.append((time.monotonic() - since, server_cpu()))
            await asyncio.sleep(every)
