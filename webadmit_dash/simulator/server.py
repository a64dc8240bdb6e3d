"""Serving the simulator: a threaded wsgiref server, startable in the background for tests and benchmarks, and the
command-line options shared by `manage.py simulate_webadmit` and `python -m webadmit_dash.simulator`.

Connections are kept alive between requests (HTTP/1.1), as WebAdMIT's are, so that tests exercise the client's
connection pool (reused and stale connections) as production does. (It does not make the refresh benchmark
faster: it saves the simulator ~0.2 ms of CPU per call, within that benchmark's noise.)
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import socketserver
import sys
import threading
from collections.abc import Iterable
from types import TracebackType
from typing import IO, Any, Self, cast
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from .app import E4_STATUSES, DownloadCut, SimulatorApp
from .contents import parse_size
from .data import FAULT_KINDS, SimulatedWorld
from .journal import Journal

logger = logging.getLogger(__name__)

# The SPEC's own example key, accepted by default. Demo only: anyone reading the docs knows it. Its one home: import
# it from `webadmit_dash.simulator`.
DEMO_API_KEY = "0123456789abcdef0123456789abcdef"
API_KEY_ENV = "WEBADMIT_SIMULATOR_API_KEY"


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a request held by a `timeout` fault must not keep the process alive
    allow_reuse_address = True
    request_queue_size = 128  # benchmarks open dozens of connections at once

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, a DNS lookup that can stall start-up for seconds.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)
        self.setup_environ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._connections: set[socket.socket] = set()  # open client connections, ended by close_connections()
        self._connections_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.discard(request)

    def close_connections(self) -> None:
        """Ends every kept-alive connection, so that a stopped simulator answers nothing, as a stopped server."""
        with self._connections_lock:
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("simulator connection from %s failed", client_address, exc_info=True)


class _KeepAliveServerHandler(ServerHandler):
    http_version = "1.1"  # wsgiref answers HTTP/1.0 by default, which makes every client close the connection
    request_handler: _KeepAliveHandler  # set by the handler, as wsgiref's own does (for logging)
    headers: Any  # wsgiref's Headers, set by start_response
    headers_sent: bool  # wsgiref's, which typeshed does not declare

    def cleanup_headers(self) -> None:
        super().cleanup_headers()
        if self.request_handler.close_connection and "Connection" not in self.headers:
            self.headers["Connection"] = "close"  # tells the client not to reuse what is about to close

    def handle_error(self) -> None:
        # A body that fails after its headers went out cannot be finished: the connection must close, or the
        # client would wait for the rest of a Content-Length that never comes, and read garbage after it. A cut
        # download (a fault) ends exactly so, on purpose, and is not worth a traceback.
        if self.headers_sent:
            self.request_handler.close_connection = True
        if isinstance(sys.exc_info()[1], DownloadCut):
            logger.debug("simulator cut a download short, as a cut_download fault asked")
            return
        super().handle_error()


class _KeepAliveHandler(WSGIRequestHandler):
    """wsgiref's handler serves one request per connection; this one serves requests until the client closes,
    says `Connection: close`, sends a body (which the app may not read to its end), or stays idle too long."""

    protocol_version = "HTTP/1.1"
    timeout = 30  # seconds an idle connection (and its thread) is kept

    def handle(self) -> None:
        self.close_connection = True
        self._handle_one()
        while not self.close_connection:
            self._handle_one()

    def _handle_one(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except (TimeoutError, OSError):
            self.close_connection = True
            return
        if not self.raw_requestline:
            self.close_connection = True
            return
        if len(self.raw_requestline) > 65536:
            self.requestline = self.request_version = self.command = ""
            self.send_error(414)
            self.close_connection = True
            return
        if not self.parse_request():  # it has answered with the error and decided whether to close
            return
        if self.headers.get("Content-Length", "0") != "0" or "Transfer-Encoding" in self.headers:
            self.close_connection = True
        handler = _KeepAliveServerHandler(
            self.rfile, cast(IO[bytes], self.wfile), self.get_stderr(), self.get_environ(), multithread=False
        )
        handler.request_handler = self  # for logging, as wsgiref does
        app = cast(WSGIServer, self.server).get_app()
        assert app is not None, "the server was started without its app"
        handler.run(app)
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)


class SimulatorServer:
    """The simulator on a real socket. `port=0` picks a free port; `base_url` says which."""

    def __init__(
        self,
        world: SimulatedWorld | None = None,
        api_keys: Iterable[str] = (DEMO_API_KEY,),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        **app_options: Any,
    ) -> None:
        self.world = world if world is not None else SimulatedWorld()
        self.app = SimulatorApp(self.world, set(api_keys), **app_options)
        self._httpd = _ThreadingServer((host, port), _KeepAliveHandler)
        self._httpd.set_app(self.app)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else str(host)
        if host in ("", "0.0.0.0"):  # noqa: S104 - naming the wildcard, not binding to it
            host = "127.0.0.1"
        return f"http://{host}:{port}"

    def start(self) -> Self:
        """Serve from a daemon thread; returns at once."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="webadmit-simulator", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve from the calling thread until `stop()` or KeyboardInterrupt."""
        self._httpd.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        # Wake requests asleep in a slow/timeout fault first, so shutting down never waits for them.
        self.world.wake_sleepers()
        self.app.callbacks.stop()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()
        self._httpd.close_connections()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The simulator's command-line options (also used by the Django management command)."""
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8025, help="port (default 8025; 0 picks a free one)")
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help=f"an accepted x-api-key, repeatable (default: ${API_KEY_ENV}, else the SPEC's demo key)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--identities", type=int, default=6)
    parser.add_argument("--files-per-identity", type=int, default=8)
    parser.add_argument("--pace", type=float, default=20.0, help="seconds per lifecycle step (default 20)")
    parser.add_argument("--new-run-every", type=float, default=60.0, help="seconds; 0 turns new runs off")
    parser.add_argument("--retention-days", type=float, default=7.0, help="days a file stays listed")
    parser.add_argument("--initial", choices=("mix", "settled"), default="mix", help="initial files' state")
    parser.add_argument(
        "--hostile-names",
        action="store_true",
        help="name identities and exports with CR/LF, NUL, 10,000 characters, markup and formulas (for testing)",
    )
    parser.add_argument("--lowercase-statuses", action="store_true", help="old documented spelling")
    parser.add_argument("--rate-limit", type=int, default=5000, help="calls per key per hour")
    parser.add_argument("--url-ttl", type=float, default=25.0, help="seconds a download URL lives")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay added to every API call")
    parser.add_argument(
        "--file-size",
        type=_file_size,
        default=None,
        metavar="SIZE",
        help="make every download this size, its bytes deterministic per file: 1234 (bytes), 5MB, 500MB, 64KiB "
        "(default: small seeded files)",
    )
    parser.add_argument(
        "--e4-status",
        type=int,
        choices=E4_STATUSES,
        default=200,
        help="what starting a run (E4) answers: 200 as production does (default), or 201 as the docs say",
    )
    parser.add_argument(
        "--http-batch-callbacks",
        action="store_true",
        help="let PDF Manager batches take http:// callbacks, which WebAdMIT refuses (for a dashboard without TLS)",
    )
    parser.add_argument("--fault", action="append", default=[], choices=FAULT_KINDS, help="inject a fault at start-up")
    parser.add_argument(
        "--state-file",
        metavar="PATH",
        help="keep the world here and resume it on the next start (see simulator/journal.py); default: a new world",
    )


def _file_size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_server(options: dict[str, Any], journal: Journal | None = None) -> SimulatorServer:
    """A server (not yet started) from parsed command-line options; with a journal, its world resumes the one the
    journal describes and every run started through the API is saved at once."""
    resumed = journal.resume() if journal is not None else None
    world = SimulatedWorld(
        seed=options["seed"],
        identities=options["identities"],
        files_per_identity=options["files_per_identity"],
        pace=options["pace"],
        new_run_every=options["new_run_every"],
        retention=options["retention_days"] * 24 * 3600,
        initial=options["initial"],
        hostile_names=options.get("hostile_names", False),
        file_size=options.get("file_size"),
        epoch=resumed.epoch if resumed else None,
        world_time=resumed.world_time if resumed else None,
        on_start=(lambda _run: journal.save(world)) if journal is not None else None,
    )
    if resumed:
        world.replay(resumed.runs)
        world.pdf_manager.replay(resumed.batches)
    for kind in options["fault"]:
        world.add_fault(kind)
    keys = options["api_keys"] or [os.environ.get(API_KEY_ENV) or DEMO_API_KEY]
    return SimulatorServer(
        world,
        keys,
        host=options["host"],
        port=options["port"],
        lowercase_statuses=options["lowercase_statuses"],
        rate_limit_per_hour=options["rate_limit"],
        url_ttl=options["url_ttl"],
        latency=options["latency_ms"] / 1000,
        e4_status=options["e4_status"],
        http_batch_callbacks=options.get("http_batch_callbacks", False),
    )


def banner(server: SimulatorServer) -> str:
    ids = ", ".join(str(identity.id) for identity in server.world.identities())
    return f"WebAdMIT simulator at {server.base_url} (identities {ids}); Ctrl-C to stop."


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run(options: dict[str, Any], out: Any = sys.stdout) -> None:
    """Build, announce and serve until Ctrl-C."""
    journal = Journal.for_options(options)
    server = build_server(options, journal)
    out.write(banner(server) + "\n")
    out.flush()
    if journal is not None:
        journal.save(server.world)  # at once, so even a simulator killed in its first seconds resumes its world
        saving = journal.keep_saving(server.world)
    # A supervisor's or `docker stop`'s SIGTERM stops it as Ctrl-C does, saving the world on the way out.
    if threading.current_thread() is threading.main_thread():  # signal handlers can only be set there
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if journal is not None:
            saving.set()
            journal.save(server.world)
        server.stop()
