"""The whole stack left running under load, as `make run` starts it, and what it looks like after.

    .venv/bin/python -m benchmarks.soak [--minutes 60] [--clients 20] [--poll-seconds 2] [--keep DIR]

Starts `manage.py runstack` (simulator with demo data, web server, worker, beat) on free ports in a throwaway
DATA_DIR, signs `--clients` browsers in as the demo admin, and has each do what an open tab does: load Recent Files,
poll it every `--poll-seconds` with the address each answer gives (as htmx does), reload it every few minutes, open
a file's page now and then and click Download on a ready file. Every minute it prints one line: the requests of that
minute (and how many were not answered as expected), poll and page latencies, the database's size (its write-ahead
log included: one that only grows means checkpoints are starved), the files in the broker's folders (messages not
yet consumed), the mail files written, /readyz, and each process's resident memory.

What it is for: defects that only show after an hour (memory that grows, a folder that fills, a poll that slows as
history accumulates, a process the supervisor keeps restarting). The last line compares the first and last minutes.
With --keep DIR the data folder is kept there for a look afterwards (the log is DIR/runstack.log).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from benchmarks._page import free_port, poll_path

HOST = "127.0.0.1"
DOWNLOAD = re.compile(r'href="(/files/\d+/download/)[^"]*"')
FILE_PAGE = re.compile(r'href="(/files/\d+/)"')


@dataclass
class Minute:
    """What the clients saw during one minute."""

    polls: list[float] = field(default_factory=list)
    pages: list[float] = field(default_factory=list)
    sent: int = 0  # requests made, whatever came back
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, seconds: float, status: int, expected: set[int], url: str) -> None:
        with self.lock:
            (self.polls if kind == "poll" else self.pages).append(seconds * 1000)
            self.sent += 1
            if status not in expected:
                self.unexpected.append(f"{status} {url}")


class Client(threading.Thread):
    """One open Recent Files tab."""

    def __init__(self, base: str, password: str, poll_seconds: float, stats: Stats, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.base, self.password, self.poll_seconds, self.stats, self.stop = base, password, poll_seconds, stats, stop
        self.session = requests.Session()
        self.rng = random.Random()

    def _get(self, kind: str, path: str, expected: set[int], **headers: str) -> requests.Response | None:
        started = time.perf_counter()
        try:
            response = self.session.get(self.base + path, headers=headers, allow_redirects=False, timeout=30)
        except requests.RequestException as error:
            self.stats.current.record(kind, time.perf_counter() - started, 0, expected, f"{path} ({error})")
            return None
        self.stats.current.record(kind, time.perf_counter() - started, response.status_code, expected, path)
        return response

    def sign_in(self) -> None:
        form = self.session.get(f"{self.base}/accounts/login/", timeout=30)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        assert token, "no CSRF token on the sign-in page"
        answer = self.session.post(
            f"{self.base}/accounts/login/",
            data={"username": "admin", "password": self.password, "csrfmiddlewaretoken": token.group(1)},
            allow_redirects=False,
            timeout=30,
        )
        assert answer.status_code == 302, f"sign-in answered {answer.status_code}"

    def run(self) -> None:
        self.sign_in()
        htmx = {"HX-Request": "true", "HX-Current-URL": f"{self.base}/"}
        while not self.stop.is_set():
            page = self._get("page", "/", {200})
            poll = poll_path(page.text) if page is not None else None
            if page is None or poll is None:
                self.stop.wait(5)
                continue
            reload_at = time.monotonic() + self.rng.uniform(120, 300)
            while not self.stop.is_set() and time.monotonic() < reload_at:
                self.stop.wait(self.poll_seconds)
                answer = self._get("poll", poll, {200, 204}, **htmx)
                if answer is not None and answer.status_code == 200:
                    poll = poll_path(answer.text) or poll
            if self.rng.random() < 0.5 and (files := FILE_PAGE.findall(page.text)):
                self._get("page", self.rng.choice(files), {200})
            if self.rng.random() < 0.3 and (downloads := DOWNLOAD.findall(page.text)):
                # 302 to WebAdMIT's fresh link; 200 is the page saying why not (e.g. the file expired meanwhile).
                self._get("download", self.rng.choice(downloads), {200, 302})


class Stats:
    def __init__(self) -> None:
        self.current = Minute()

    def turn(self) -> Minute:
        done, self.current = self.current, Minute()
        return done


def _processes(root: int) -> dict[str, int]:
    """Resident memory (kB) of every process under `root`, by a short name (its command line's telling word)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found: dict[str, int] = {}
    stack = [root]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            command = (Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")).decode(errors="replace")
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        rss = re.search(r"VmRSS:\s+(\d+)", status)
        words = ("runstack", "simulate_webadmit", "gunicorn", "worker", "beat", "serve")
        name = next((word for word in words if word in command), command.split(" ")[0].rsplit("/", 1)[-1])
        if rss:
            label = name if name not in found else f"{name}.{pid}"
            found[label] = int(rss.group(1))
    return found


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def _mb(kb: int) -> str:
    return f"{kb / 1024:.0f}"


def _count(folder: Path) -> int:
    return sum(1 for f in folder.rglob("*") if f.is_file()) if folder.exists() else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--poll-seconds", type=float, default=2.0)
    parser.add_argument("--keep", type=Path, help="keep the data folder here (it must not exist yet)")
    args = parser.parse_args(argv)

    data_dir = args.keep or Path(tempfile.mkdtemp(prefix="webadmit-soak-"))
    data_dir.mkdir(parents=True, exist_ok=args.keep is None)
    port, simulator_port = free_port(), free_port()
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "WEBADMIT_ALLOW_LOOPBACK": "true",
        "DJANGO_DEBUG": "false",
    }
    for name in ("DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"):
        env.pop(name, None)
    log = (data_dir / "runstack.log").open("w")
    command = [sys.executable, "manage.py", "runstack", "--port", str(port), "--simulator-port", str(simulator_port)]
    stack = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://{HOST}:{port}"
    try:
        return _soak(args, data_dir, stack, base)
    finally:
        stack.send_signal(signal.SIGINT)  # runstack stops what it started
        try:
            stack.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(stack.pid, signal.SIGKILL)
        log.close()
        if args.keep is None:
            shutil.rmtree(data_dir, ignore_errors=True)


def _soak(args: argparse.Namespace, data_dir: Path, stack: subprocess.Popen[bytes], base: str) -> int:
    deadline = time.monotonic() + 90
    password_file = data_dir / "demo-admin-password"
    while time.monotonic() < deadline:
        try:
            if password_file.exists() and requests.get(f"{base}/healthz", timeout=2).ok:
                break
        except requests.RequestException:
            pass
        if stack.poll() is not None:
            print(f"runstack exited with {stack.returncode}; see {data_dir}/runstack.log", file=sys.stderr)
            return 1
        time.sleep(1)
    else:
        print("the stack did not answer /healthz within 90 s", file=sys.stderr)
        return 1
    password = password_file.read_text().strip()
    print(f"Soak: {args.clients} clients polling every {args.poll_seconds:g} s for {args.minutes:g} min at {base}")
    print(f"  data folder {data_dir}; sign in as admin / {password}\n")
    print(
        f"  {'min':>3} {'requests':>8} {'bad':>4} {'poll p50':>8} {'p99':>6} {'page p50':>8} {'p99':>6}"
        f" {'db MB':>6} {'broker':>6} {'mails':>5} {'ready':>5}  resident MB by process"
    )
    stats, stop = Stats(), threading.Event()
    clients = [Client(base, password, args.poll_seconds, stats, stop) for _ in range(args.clients)]
    for client in clients:
        client.start()
        time.sleep(args.poll_seconds / args.clients)  # spread the polls over the interval, as real tabs are
    minutes: list[tuple[Minute, dict[str, int]]] = []
    bad_total = 0
    end = time.monotonic() + args.minutes * 60
    while time.monotonic() < end and stack.poll() is None:
        time.sleep(min(60, max(end - time.monotonic(), 0)))
        minute = stats.turn()
        memory = _processes(stack.pid)
        try:
            ready = str(requests.get(f"{base}/readyz", timeout=10).status_code)
        except requests.RequestException:
            ready = "down"
        minutes.append((minute, memory))
        bad_total += len(minute.unexpected)
        polls, pages = minute.polls or [0.0], minute.pages or [0.0]
        database = _size(data_dir / "db.sqlite3") + _size(data_dir / "db.sqlite3-wal")
        print(
            f"  {len(minutes):>3} {minute.sent:>8} {len(minute.unexpected):>4}"
            f" {statistics.median(polls):>6.1f}ms {_p99(polls):>4.0f}ms"
            f" {statistics.median(pages):>6.1f}ms {_p99(pages):>4.0f}ms"
            f" {database / 2**20:>6.1f} {_count(data_dir / 'celery'):>6}"
            f" {_count(data_dir / 'mail'):>5} {ready:>5}  "
            + " ".join(f"{name} {_mb(kb)}" for name, kb in sorted(memory.items())),
            flush=True,
        )
        for line in minute.unexpected[:5]:
            print(f"        unexpected: {line}")
    stop.set()
    if stack.poll() is not None:
        print(f"runstack exited with {stack.returncode} during the soak; see {data_dir}/runstack.log")
        return 1
    if len(minutes) >= 2:
        (first, first_memory), (last, last_memory) = minutes[0], minutes[-1]
        growth = {name: last_memory[name] - first_memory[name] for name in last_memory if name in first_memory}
        print(
            f"\n  first → last minute: poll p50 {statistics.median(first.polls or [0]):.1f} →"
            f" {statistics.median(last.polls or [0]):.1f} ms; resident memory "
            + ", ".join(f"{name} {growth[name] / 1024:+.0f} MB" for name in sorted(growth))
        )
    restarts = (data_dir / "runstack.log").read_text(errors="replace").count("stopped unexpectedly")
    print(f"  {bad_total} unexpected answers; {restarts} process restarts in the log")
    return 0 if bad_total == 0 and restarts == 0 else 1


def _p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98] if len(samples) >= 100 else max(samples)


if __name__ == "__main__":
    raise SystemExit(main())
