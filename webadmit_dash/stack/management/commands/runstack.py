"""`manage.py runstack`: the whole product on one machine, for `make run`.

Makes the data folder (local_data.py), starts the bundled WebAdMIT simulator (with demo data on first run), the web
server, a Celery worker, the collector (a worker of its own on the collection queue, so a slow download never
delays a refresh) and Celery beat (its own process, so that it never outlives the worker's restarts as an
embedded one could), prints where to sign in, keeps them running (`supervisor`: a process that stops is
restarted, with a loud line in the log, while the others go on), and stops every process it started on Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from webadmit_dash import local_data
from webadmit_dash.simulator import DEMO_API_KEY
from webadmit_dash.stack import demo
from webadmit_dash.stack.supervisor import Supervisor
from webadmit_dash.webadmit.errors import WebAdmitError


def wait_for_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def collector_command(celery: str) -> list[str]:
    """The collector: a small worker that consumes only the collection queue, in threads (downloads and uploads
    wait on the network, not the CPU), so collecting and delivering never take a refresh's place."""
    return [
        celery,
        "-A",
        "webadmit_dash",
        "worker",
        "--pool=threads",
        "-Q",
        settings.COLLECTION_QUEUE,
        "--concurrency=4",
        "--hostname=collector@%h",
        "--loglevel=INFO",
    ]


class Command(BaseCommand):
    help = (
        "Runs the web server, a Celery worker, the collector, Celery beat and the WebAdMIT simulator, restarting any "
        "that stops; Ctrl-C stops them all."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--simulator-port", type=int, default=8025)
        parser.add_argument("--no-simulator", action="store_true", help="Run without the simulator and demo data.")
        parser.add_argument("--concurrency", type=int, default=8, help="Worker threads.")

    # The checks run in handle(), once the data folder they look for exists.
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        local_data.prepare(settings)
        self.check()
        call_command("migrate", interactive=False, verbosity=0)
        # Every process that counts metrics here is started below: an earlier run's counters would add to theirs.
        for stale in settings.METRICS_DIR.glob("*.db"):
            stale.unlink(missing_ok=True)
        # On a laptop, /metrics answers this machine (curl localhost:8000/metrics); production chooses its own.
        os.environ.setdefault("METRICS_ALLOWED_IPS", "127.0.0.1,::1")
        # Links in notifications point at this server unless the operator named another address.
        os.environ.setdefault("SITE_URL", f"http://{options['host']}:{options['port']}")
        python = sys.executable
        celery = str(Path(python).with_name("celery"))
        self.supervisor = Supervisor(Path(settings.BASE_DIR), self._log_event)
        # Ctrl-C and SIGTERM both mean "stop everything". Installed explicitly because a shell that starts us in
        # the background without job control leaves SIGINT ignored, and the children would then stop on their own.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            if not options["no_simulator"]:
                self._start_simulator(python, options["host"], options["simulator_port"])
            self.supervisor.start(
                "web", [python, "manage.py", "runserver", f"{options['host']}:{options['port']}", "--noreload"]
            )
            self.supervisor.start(
                "worker",
                [
                    celery,
                    "-A",
                    "webadmit_dash",
                    "worker",
                    "--pool=threads",
                    f"--concurrency={options['concurrency']}",
                    "--loglevel=INFO",
                ],
            )
            self.supervisor.start("collector", collector_command(celery))
            # Exactly one scheduler, whatever happens to the worker: while the worker is down, beat's dispatches
            # expire unread (they carry an expiry), and the restarted worker picks up from the database.
            self.supervisor.start("beat", [celery, "-A", "webadmit_dash", "beat", "--loglevel=INFO"])
            if not wait_for_port(options["host"], options["port"], 30):
                raise CommandError(f"The web server did not start on port {options['port']}.")
            self.stdout.write(
                self.style.SUCCESS(f"\nwebadmit-dash is running at http://{options['host']}:{options['port']}/")
            )
            self.stdout.write(self._mail_note())
            self.stdout.write("Press Ctrl-C to stop the web server, the workers, beat and the simulator.\n")
            self.supervisor.watch()
        except KeyboardInterrupt:
            self.stdout.write("\nStopping...")
        finally:
            self.supervisor.stop_all()

    def _log_event(self, line: str) -> None:
        self.stderr.write(self.style.ERROR(line) if "ERROR" in line else self.style.WARNING(line))

    def _mail_note(self) -> str:
        if settings.EMAIL_HOST:
            return f"Notifications are e-mailed through {settings.EMAIL_HOST}:{settings.EMAIL_PORT}."
        return (
            f"E-mail: no EMAIL_HOST is set, so notifications are written to files in {settings.EMAIL_FILE_PATH}/ "
            "(one file per batch of messages) instead of being sent."
        )

    def _start_simulator(self, python: str, host: str, port: int) -> None:
        self.supervisor.start(
            "simulator",
            [
                python,
                "manage.py",
                "simulate_webadmit",
                "--host",
                host,
                "--port",
                str(port),
                "--api-key",
                DEMO_API_KEY,
                # A lifecycle of about 90 s and a new run every 30 s: a newcomer sees badges move within a minute.
                "--pace",
                "30",
                "--new-run-every",
                "30",
                # The world resumes where it stopped when `make run` starts again (simulator/journal.py).
                "--state-file",
                str(Path(settings.DATA_DIR) / "simulator-world.json"),
            ],
        )
        if not wait_for_port(host, port, 20):
            raise CommandError(f"The WebAdMIT simulator did not start on port {port}.")
        try:
            credential = demo.ensure_demo_credential(f"http://{host}:{port}", DEMO_API_KEY)
        except WebAdmitError as error:
            raise CommandError(f"Could not load the demo data from the simulator: {error.message}") from None
        try:
            delivery = demo.ensure_demo_delivery(credential)
        except WebAdmitError as error:
            raise CommandError(f"Could not read the demo exports from the simulator: {error.message}") from None
        if delivery is not None:
            self.stdout.write(
                f"Files of “{delivery.export_name}” ({delivery.identity}) are collected and delivered to "
                f"{delivery.folder}/ as they become Available."
            )
        login = demo.ensure_demo_admin()
        if demo.ensure_demo_subscription():
            self.stdout.write(f"'{login.username}' is subscribed to every notification, by e-mail.")
        if login.password:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Sign in as '{login.username}' with password: {login.password}"
                    + (f"  (new; saved in {login.saved_in})" if login.created else "")
                )
            )
        else:
            self.stdout.write(f"Sign in as '{login.username}' with the password you set.")
