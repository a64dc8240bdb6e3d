"""2,000 open tabs on two cores (issue 24): the Recent Files poll's latency and server CPU as open tabs add up.

    .venv/bin/python -m benchmarks.tabs [--rates 100,333,500,667] [--seconds 30] [--warm-up 5]
                                        [--files 2000] [--identities 50] [--connections 64] [--tabs-per-page 20]
                                        [--database-url postgres://user@host/name] [--checkout PATH ...]
                                        [--avoid-minute-turn] [--json]

For each checkout (this one unless --checkout says which, in the order given: to compare a base commit with this
one, `git worktree add --detach /work/wt-base <commit>`, then `--checkout /work/wt-base --checkout .`), it:
- builds the data in a throwaway database, inside that checkout (benchmarks/_tab_data.py, run with the checkout
  first on the path): --files export files over --identities identities, mostly finished and a few running (the
  dashboard benchmark's mix), every identity refreshed a moment ago and next due after the run (no "late" banner),
  and a signed-in superuser. SQLite in a temporary folder by default; with --database-url (or
  --throwaway-database-url, as web_threads names it) that PostgreSQL database, whose public schema is emptied
  first: name one that holds nothing else;
- runs that checkout's production web server command (its Dockerfile's CMD: gunicorn, 3 workers x 4 threads,
  bound to a free loopback port here) with DJANGO_ENV=production, from this virtualenv;
- for each rate of --rates polls per second, opens rate x 3 tabs (a tab polls every 3 s while files run: the
  page's data-poll-every, static/js/app.js; --poll-every changes it), each with the poll address of a load of `/`
  (one load per --tabs-per-page tabs, to keep the setup light; each tab follows its own address from then on),
  polls for --warm-up seconds unmeasured, then --seconds measured, then waits for the measured polls' answers.

The tabs are one process, this one: an asyncio event loop (benchmarks/_tab_load.py), no thread per tab, over at
most --connections keep-alive connections, as a reverse proxy keeps to its upstream. Each tab's clock ticks every
3 s from a random phase, whatever the answers (open loop), and each poll's latency counts from its tick, including
any wait for a free connection: no coordinated omission. As in the browser, a tick while the tab's last poll is
still in flight sends nothing (htmx drops it: the poller's hx-sync) and is counted as dropped, with its latency to
that poll's answer; a 204 keeps the tab's address; a 200 moves the tab to the address of the poller it carries out
of band, and restarts its clock, as a poller swapped in does (a 200 with no poller in it is counted).

How to read it, per rate (and in the table at the end, one line per checkout and rate; --json adds one JSON line):
- polls due, sent and dropped in the measured seconds; the latency's p50, p99 and max, from the tick, and the p99
  of the 204s and of the 200s apart; how many answered 200, 204, something else, or nothing (errors: refused,
  reset, over 30 s);
- when the clock's minute turned, from the tabs' opening on (less than 0 s: before the measured seconds): the
  poll address carries the minute its page or poll was rendered in, so after each turn every tab's next poll
  answers 200, with a render. --avoid-minute-turn starts each step when it can end within the minute, to measure
  the unchanged poll alone;
- server CPU per poll answered: the CPU time (utime + stime from /proc/<pid>/stat) of gunicorn's process group,
  master and workers, over the measured seconds; per unchanged poll: the same over only the seconds in which every
  answer, and every answer in the seconds either side, was a 204; from the two, about what a 200 costs; and each
  process's share of it (gunicorn hands a kept connection to one worker for good: a worker with more of them does
  more of the work);
- generator CPU per poll sent (this process), how late it sent polls (p99), and what other processes than the
  server and this one used meanwhile, in cores: this benchmark shares the machine with them.

Targets (issue 24): at 667 polls/s (2,001 tabs), p99 under 50 ms and server CPU per unchanged poll at most 1.5 ms,
on two cores.

The data build uses only what every version since the page polled has (benchmarks/_tab_data.py), so the same
command measures an older checkout: 5443bcd (its models in webadmit_dash/dashboard) as well as main. --url and
--session drive a server already running instead (no build, no server CPU).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from benchmarks._cpu import CpuSample, sample
from benchmarks._page import free_port
from benchmarks._production import ROOT, empty_schema, environment, production_command
from benchmarks._tab_load import POLL_EVERY, Pool, Step, Tabs
from benchmarks.dashboard import STATUS_MIX

P99_TARGET_MS = 50.0
UNCHANGED_CPU_TARGET_MS = 1.5
TARGET_RATE = 667.0
# --avoid-minute-turn: seconds allowed for opening the tabs and for the last answers, on top of the step's own.
OPENING_AND_ANSWERS = 15.0
DATA_SCRIPT = Path(__file__).resolve().with_name("_tab_data.py")


def _label(checkout: Path) -> str:
    git = ["git", "-C", str(checkout)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    changed = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True)
    return f"{checkout.name} {commit or '?'}{'+changes' if changed.stdout.strip() else ''}"


def _checkout_env(checkout: Path, env: dict[str, str]) -> dict[str, str]:
    # The checkout's packages before this virtualenv's editable install of the project.
    return {**env, "PYTHONPATH": str(checkout)}


def build(checkout: Path, env: dict[str, str], args: argparse.Namespace, fresh_for: int) -> dict[str, Any]:
    """The data, built by _tab_data.py inside the checkout; returns what it printed (the session cookie...)."""
    mix = ",".join(f"{status}={weight}" for status, weight in STATUS_MIX)
    command = [sys.executable, "-P", str(DATA_SCRIPT), "--files", str(args.files), "--identities",
               str(args.identities), "--status-mix", mix, "--fresh-for", str(fresh_for)]  # fmt: skip
    run = subprocess.run(command, cwd=checkout, env=_checkout_env(checkout, env), capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"benchmark: building the data in {checkout} failed:\n{run.stderr[-4000:]}")
    built: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    if Path(built["package"]).resolve() != (checkout / "webadmit_dash").resolve():
        raise SystemExit(f"benchmark: the data was built with {built['package']}, not {checkout}'s code")
    return built


@contextmanager
def serve(checkout: Path, env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    """The checkout's production command, answering; yields its URL and process group."""
    port = free_port()
    with log.open("wb") as errors:
        web = subprocess.Popen(
            production_command(port, checkout),
            cwd=checkout,
            env=_checkout_env(checkout, env),
            stdout=subprocess.DEVNULL,  # the access log (--access-logfile -): written, as in production, unread
            stderr=errors,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for(url, web, log)
        yield url, web.pid
    finally:
        if web.poll() is None:
            os.killpg(web.pid, signal.SIGTERM)
            try:
                web.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(web.pid, signal.SIGKILL)
                web.wait()


def _wait_for(url: str, web: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if web.poll() is not None:
            raise SystemExit(f"benchmark: gunicorn exited ({web.returncode}):\n{log.read_text()[-4000:]}")
        try:
            requests.get(f"{url}/", timeout=2, allow_redirects=False)  # any answer will do (a redirect to sign in)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise SystemExit(f"benchmark: {url} did not answer within {timeout:.0f} s:\n{log.read_text()[-4000:]}")


async def drive(
    base_url: str, session: str, args: argparse.Namespace, server_cpu: Callable[[], CpuSample] | None
) -> list[dict[str, Any]]:
    """Every rate in turn, on one pool of connections; prints each step as it ends."""
    pool = Pool(base_url, args.connections, {"Cookie": f"sessionid={session}", "Accept": "text/html"})
    rng = random.Random(args.seed)
    results = []
    try:
        for rate in args.rates:
            if args.avoid_minute_turn:
                await _within_a_minute(args)
            opened_at = time.time()
            tabs = Tabs(pool, round(rate * args.poll_every), rng, args.poll_every)
            pages = await tabs.open("/", args.tabs_per_page)
            step = Step(rate, tabs.count, args.seconds, opened_at=opened_at)
            await tabs.run(step, args.warm_up, server_cpu)
            summary = step.summary() | {
                "pages": pages,
                "connections_opened": pool.opened,
                "poll_every": args.poll_every,
            }
            print(_step_block(summary), flush=True)
            results.append(summary)
    finally:
        pool.close()
    return results


async def _within_a_minute(args: argparse.Namespace) -> None:
    """Waits, if need be, for the minute to turn, so that the step (its tabs' opening too) ends in the same minute."""
    needed = args.warm_up + args.seconds + OPENING_AND_ANSWERS
    left = 60 - time.time() % 60
    if needed > left:
        print(f"  (waiting {left:.0f} s for the minute to turn)", flush=True)
        await asyncio.sleep(left + 0.5)


def _ms(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _step_block(step: dict[str, Any]) -> str:
    other = f" ({', '.join(map(str, step['other_statuses']))})" if step["other_statuses"] else ""
    errors = f" ({', '.join(f'{kind} x {n}' for kind, n in step['error_kinds'].items())})" if step["errors"] else ""
    missing = f", {step['missing_poller']} 200s with no poller in them" if step["missing_poller"] else ""
    turns = _turns(step)
    return (
        f"\n  {step['rate']:g} polls/s = {step['tabs']:,} tabs polling every {step['poll_every']:g} s "
        f"({step['pages']} page loads to open them), {step['seconds']:g} s measured\n"
        f"      polls: {step['due']:,} due, {step['sent']:,} sent, {step['dropped']:,} dropped (the tab's last poll "
        f"still in flight)\n"
        f"      latency from due: p50 {_ms(step['p50_ms'])} ms, p99 {_ms(step['p99_ms'])} ms, max "
        f"{_ms(step['max_ms'])} ms (p99 of the 204s {_ms(step['p99_204_ms'])} ms, of the 200s "
        f"{_ms(step['p99_200_ms'])} ms)\n"
        f"      answers: 200 x {step['status_200']:,}, 204 x {step['status_204']:,}, other x "
        f"{step['status_other']}{other}, errors x {step['errors']}{errors}{missing}\n"
        f"      the minute turned {'at ' + turns if turns != '-' else 'not once'} (seconds into the measured ones; "
        f"before them, from the tabs' opening on, counts too)\n"
        f"      server CPU: {_ms(step['server_cpu_ms_per_poll'], 2)} ms per poll answered, "
        f"{_ms(step['server_cpu_ms_per_unchanged_poll'], 2)} ms per unchanged poll (seconds of 204s only), about "
        f"{_ms(step['server_cpu_ms_per_200_estimate'], 0)} ms per 200; by process "
        f"{'/'.join(f'{share:.0f}' for share in step['server_cpu_shares']) or '-'} %\n"
        f"      database CPU (PostgreSQL's backends): {_ms(step['database_cpu_ms_per_poll'], 2)} ms per poll answered, "
        f"{_ms(step['database_cpu_ms_per_unchanged_poll'], 2)} ms per unchanged poll; other processes than these and "
        f"this one: {_ms(step['others_cores'], 2)} cores\n"
        f"      generator CPU: {_ms(step['generator_cpu_ms_per_poll'], 3)} ms per poll sent; polls sent "
        f"{_ms(step['send_lag_p99_ms'], 1)} ms late at p99; {step['connections_opened']} connections opened so far"
    )


def _turns(step: dict[str, Any]) -> str:
    return ", ".join(f"{turn:+.0f} s" for turn in step["minute_turns"]) or "-"


TABLE_HEADER = (
    "| checkout | database | polls/s | tabs | due | sent | dropped | p50 ms | p99 ms | max ms | 200 | 204 | other "
    "| errors | server CPU ms/poll | ms/unchanged poll | database CPU ms/unchanged poll | generator CPU ms/poll "
    "| other processes, cores | minute turned at |"
)


def table_row(label: str, database: str, step: dict[str, Any]) -> str:
    """One line per rate, for the issue's table."""
    return (
        f"| {label} | {database} | {step['rate']:g} | {step['tabs']} | {step['due']} | {step['sent']} "
        f"| {step['dropped']} | {_ms(step['p50_ms'])} "
        f"| {_ms(step['p99_ms'])} | {_ms(step['max_ms'])} | {step['status_200']} | {step['status_204']} "
        f"| {step['status_other']} | {step['errors']} | {_ms(step['server_cpu_ms_per_poll'], 2)} "
        f"| {_ms(step['server_cpu_ms_per_unchanged_poll'], 2)} | {_ms(step['database_cpu_ms_per_unchanged_poll'], 2)} "
        f"| {_ms(step['generator_cpu_ms_per_poll'], 3)} "
        f"| {_ms(step['others_cores'], 2)} | {_turns(step)} |"
    )


def _verdicts(steps: list[dict[str, Any]]) -> list[str]:
    at_target = [step for step in steps if abs(step["rate"] - TARGET_RATE) < 1]
    if not at_target:
        return [f"    (not measured at {TARGET_RATE:g} polls/s: no verdict)"]
    step = at_target[-1]
    p99, cpu = step["p99_ms"], step["server_cpu_ms_per_unchanged_poll"]
    return [
        f"    {'met ' if p99 is not None and p99 < P99_TARGET_MS else 'MISSED'}  p99 < {P99_TARGET_MS:g} ms at "
        f"{TARGET_RATE:g} polls/s: {_ms(p99)} ms",
        f"    {'met ' if cpu is not None and cpu <= UNCHANGED_CPU_TARGET_MS else 'MISSED'}  server CPU per unchanged "
        f"poll <= {UNCHANGED_CPU_TARGET_MS:g} ms: {_ms(cpu, 2)} ms",
    ]


def measure_checkout(checkout: Path, args: argparse.Namespace) -> tuple[str, list[dict[str, Any]]]:
    label = _label(checkout)
    database = "PostgreSQL" if args.database_url else "SQLite"
    run_for = len(args.rates) * (args.warm_up + args.seconds + 60)
    with tempfile.TemporaryDirectory(prefix="webadmit-tabs-") as folder:
        data_dir = Path(folder)
        env = environment(data_dir, args.database_url)
        if args.database_url:
            empty_schema(args.database_url)
        started = time.monotonic()
        built = build(checkout, env, args, fresh_for=int(run_for) + 3600)
        statuses = ", ".join(f"{status} {count}" for status, count in sorted(built["statuses"].items()))
        print(
            f"\n{label} ({checkout}), {database}: built {built['files']:,} files ({statuses}) over "
            f"{built['identities']} identities in {time.monotonic() - started:.1f} s",
            flush=True,
        )
        database_name = urlsplit(args.database_url).path.lstrip("/") if args.database_url else None
        with serve(checkout, env, data_dir / "gunicorn.log") as (url, group):
            command = production_command(0, checkout)
            print(f"  gunicorn {' '.join(command[1:])} (bound to {url} here)", flush=True)
            steps = asyncio.run(drive(url, built["session"], args, lambda: sample(group, database_name)))
    return label, steps


def _rates(text: str) -> list[float]:
    return [float(rate) for rate in text.split(",") if rate]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=_rates, default=[100.0, 333.0, 500.0, 667.0], help="polls/s, e.g. 100,667")
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds measured per rate")
    parser.add_argument("--warm-up", type=float, default=5.0, help="seconds of polls unmeasured before each rate")
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--identities", type=int, default=50)
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections at most")
    parser.add_argument("--poll-every", type=float, default=POLL_EVERY, help="seconds between a tab's polls")
    parser.add_argument("--tabs-per-page", type=int, default=20, help="tabs opened per page load of /")
    parser.add_argument(
        "--database-url",
        "--throwaway-database-url",
        help="a PostgreSQL database to empty (its public schema) and use instead of SQLite",
    )
    parser.add_argument(
        "--checkout", type=Path, action="append", help="a checkout to measure (repeat for several); default: this one"
    )
    parser.add_argument("--url", help="drive a server already running here instead (with --session); no server CPU")
    parser.add_argument("--session", help="with --url: the session cookie to poll with")
    parser.add_argument(
        "--avoid-minute-turn",
        action="store_true",
        help="start each step when it can end in the same minute (no 200s from the poll address's minute; "
        f"needs --warm-up + --seconds <= {60 - OPENING_AND_ANSWERS:g})",
    )
    parser.add_argument("--seed", type=int, default=24)
    parser.add_argument("--json", action="store_true", help="end with the results as one JSON line")
    args = parser.parse_args(argv)
    if args.avoid_minute_turn and args.warm_up + args.seconds + OPENING_AND_ANSWERS > 60:
        parser.error(f"--avoid-minute-turn needs --warm-up + --seconds <= {60 - OPENING_AND_ANSWERS:g}")

    print(
        f"Tabs: {os.cpu_count()} cores, rates {', '.join(f'{rate:g}' for rate in args.rates)} polls/s, "
        f"{args.warm_up:g} s warm-up + {args.seconds:g} s each, at most {args.connections} connections",
        flush=True,
    )
    measured: list[tuple[str, str, list[dict[str, Any]]]] = []
    if args.url:
        if not args.session:
            parser.error("--url needs --session")
        measured.append((args.url, "-", asyncio.run(drive(args.url, args.session, args, None))))
    else:
        database = "PostgreSQL" if args.database_url else "SQLite"
        for checkout in args.checkout or [ROOT]:
            label, steps = measure_checkout(checkout.resolve(), args)
            measured.append((label, database, steps))

    print(f"\n{TABLE_HEADER}\n|{'---|' * TABLE_HEADER.count(' | ')}---|")
    for label, database, steps in measured:
        for step in steps:
            print(table_row(label, database, step))
    print(f"\n  load average {os.getloadavg()[0]:.1f} at the end; targets at {TARGET_RATE:g} polls/s:")
    for label, _, steps in measured:
        print(f"  {label}")
        print("\n".join(_verdicts(steps)))
    if args.json:
        print(
            json.dumps(
                [{"checkout": label, "database": database, "steps": steps} for label, database, steps in measured]
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
