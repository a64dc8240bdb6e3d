"""The tabs benchmark's load generator (benchmarks/tabs.py --url), run as the program it is against a small page
server here: its HTTP/1.1 client reads what gunicorn may send (Content-Length, chunked, 204, a closed connection),
its tabs follow the poll address a 200 gives, and it reports every poll. No timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.conf import settings

SESSION = "tab-session-cookie"
PAGE = b'<main>files</main>\n<div id="poller" hidden\n     hx-get="/files/poll/?v=1&amp;b=7" hx-swap="none"></div>'
# A poll that found changes answers the poller out of band, with the next address.
CHANGED = b'<tr id="file-1"></tr><div id="poller" hidden\n hx-get="/files/poll/?v=2&amp;b=7" hx-swap-oob="true"></div>'


class PageServer:
    """Recent Files as far as a tab sees it: the page gives the poll address v=1; v=1 answers 200 (chunked) with
    the address v=2; v=2 answers 204. Every fifth answer says Connection: close; every seventh closes the kept
    connection after answering without saying so (as an idle keep-alive is closed), which the client must survive."""

    def __init__(self, poll_takes: float = 0.0) -> None:
        self.asked: Counter[str] = Counter()
        self.refused: list[str] = []
        self._lock = threading.Lock()
        self._answers = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with server._lock:
                    server._answers += 1
                    number = server._answers
                    server.asked[self.path] += 1
                if f"sessionid={SESSION}" not in self.headers.get("Cookie", ""):
                    self._answer(302, b"", number, location="/accounts/login/")
                elif self.path == "/":
                    self._answer(200, PAGE, number)
                elif self.headers.get("HX-Request") != "true":
                    server.refused.append(self.path)
                    self._answer(400, b"no HX-Request", number)
                elif self.path.startswith("/files/poll/") and poll_takes:
                    time.sleep(poll_takes)
                    self._answer(204, b"", number)
                elif self.path == "/files/poll/?v=1&b=7":
                    self._chunked(CHANGED, number)
                elif self.path == "/files/poll/?v=2&b=7":
                    self._answer(204, b"", number)
                else:
                    server.refused.append(self.path)
                    self._answer(404, b"unknown", number)

            def _answer(self, status: int, body: bytes, number: int, location: str = "") -> None:
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                if status != 204:
                    self.send_header("Content-Length", str(len(body)))
                self._end(number)
                self.wfile.write(body)
                self._close_silently(number)

            def _chunked(self, body: bytes, number: int) -> None:
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self._end(number)
                half = len(body) // 2
                for chunk in (body[:half], body[half:]):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")
                self._close_silently(number)

            def _end(self, number: int) -> None:
                if number % 5 == 0:
                    self.send_header("Connection", "close")
                self.end_headers()

            def _close_silently(self, number: int) -> None:
                if number % 7 == 0:
                    self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> PageServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def page_server() -> Iterator[PageServer]:
    with PageServer() as server:
        yield server


def tabs(url: str, *options: str) -> dict[str, Any]:
    """benchmarks/tabs.py against `url`, its result read from its JSON line."""
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.tabs", "--url", url, "--session", SESSION, *options, "--json"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    (measured,) = json.loads(run.stdout.splitlines()[-1])
    return measured


def test_the_tabs_poll_the_address_each_changed_answer_gives(page_server: PageServer) -> None:
    measured = tabs(
        page_server.url, "--rates", "240", "--poll-every", "0.5", "--seconds", "0.7", "--warm-up", "0.1",
        "--tabs-per-page", "10", "--connections", "4",
    )  # fmt: skip

    (step,) = measured["steps"]
    assert (step["rate"], step["tabs"], step["pages"]) == (240, 120, 12)
    assert page_server.asked["/"] == 12
    # Every tab's first poll (v=1) answered 200 with the address v=2, which the tab asked from then on: 204s (a tab
    # whose next poll was due before that answer came asks v=1 again: open loop).
    assert page_server.asked["/files/poll/?v=1&b=7"] >= 120
    assert step["status_200"] > 0 and step["status_204"] > 0
    assert step["status_200"] + step["status_204"] == step["sent"]
    assert (step["status_other"], step["errors"], step["missing_poller"]) == (0, 0, 0)
    assert step["sent"] + step["dropped"] == step["due"]
    assert page_server.refused == []


def test_every_poll_is_reported_with_its_latency_and_the_generators_cpu(page_server: PageServer) -> None:
    measured = tabs(
        page_server.url, "--rates", "120,180", "--poll-every", "0.5", "--seconds", "0.5", "--warm-up", "0",
        "--tabs-per-page", "20",
    )  # fmt: skip

    first, second = measured["steps"]
    # Open loop: each tab's clock ticks once per 0.5 s from its own phase, whatever the answers.
    assert (first["tabs"], first["due"]) == (60, 60)
    assert (second["tabs"], second["due"]) == (90, 90)
    for step in (first, second):
        assert 0 <= step["p50_ms"] <= step["p99_ms"] <= step["max_ms"]
        assert step["generator_cpu_ms_per_poll"] > 0
        assert step["server_cpu_ms_per_poll"] is None  # a server it did not start: its CPU is not known
    # New tabs each rate: each starts from the page's address again.
    assert second["status_200"] == 90


def test_a_tab_sends_no_poll_while_its_last_is_in_flight_and_counts_the_tick_as_dropped() -> None:
    with PageServer(poll_takes=0.3) as slow:
        measured = tabs(
            slow.url, "--rates", "100", "--poll-every", "0.1", "--seconds", "1", "--warm-up", "0",
            "--tabs-per-page", "10",
        )  # fmt: skip

    (step,) = measured["steps"]
    # Each poll takes 0.3 s and the clocks tick every 0.1 s: about two ticks of three find the last poll in flight.
    assert step["tabs"] == 10
    assert step["dropped"] > 0
    assert step["sent"] + step["dropped"] == step["due"]
    assert sum(count for path, count in slow.asked.items() if path.startswith("/files/poll/")) == step["sent"]
    assert step["status_204"] == step["sent"]
