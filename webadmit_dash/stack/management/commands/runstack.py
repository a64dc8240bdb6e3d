"""`manage.py runstack`: the whole product on one machine, for `make run`.

Starts the bundled WebAdMIT simulator (with demo data on first run), the web server, and a Celery worker with
embedded beat, prints where to sign in, and stops every process it started on Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from webadmit_dash.simulator import DEMO_API_KEY
from webadmit_dash.stack import demo
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


class Command(BaseCommand):
    help = "Runs the web server, a Celery worker with beat and the WebAdMIT simulator; Ctrl-C stops them all."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--simulator-port", type=int, default=8025)
        parser.add_argument("--no-simulator", action="store_true", help="Run without the simulator and demo data.")
        parser.add_argument("--concurrency", type=int, default=8, help="Worker threads.")

    def handle(self, *args, **options) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        # Links in notifications point at this server unless the operator named another address.
        os.environ.setdefault("SITE_URL", f"http://{options['host']}:{options['port']}")
        python = sys.executable
        celery = str(Path(python).with_name("celery"))
        self.children: list[tuple[str, subprocess.Popen]] = []
        # Ctrl-C and SIGTERM both mean "stop everything". Installed explicitly because a shell that starts us in
        # the background without job control leaves SIGINT ignored, and the children would then stop on their own.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            if not options["no_simulator"]:
                self._start_simulator(python, options["host"], options["simulator_port"])
            self._start("web", [python, "manage.py", "runserver", f"{options['host']}:{options['port']}", "--noreload"])
            self._start(
                "worker",
                [
                    celery,
                    "-A",
                    "webadmit_dash",
                    "worker",
                    "--beat",
                    "--pool=threads",
                    f"--concurrency={options['concurrency']}",
                    "--loglevel=INFO",
                ],
            )
            if not wait_for_port(options["host"], options["port"], 30):
                raise CommandError(f"The web server did not start on port {options['port']}.")
            self.stdout.write(
                self.style.SUCCESS(f"\nwebadmit-dash is running at http://{options['host']}:{options['port']}/")
            )
            self.stdout.write(self._mail_note())
            self.stdout.write("Press Ctrl-C to stop the web server, the worker and the simulator.\n")
            self._watch()
        except KeyboardInterrupt:
            self.stdout.write("\nStopping...")
        finally:
            self._stop_all()

    def _mail_note(self) -> str:
        if settings.EMAIL_HOST:
            return f"Notifications are e-mailed through {settings.EMAIL_HOST}:{settings.EMAIL_PORT}."
        return (
            f"E-mail: no EMAIL_HOST is set, so notifications are written to files in {settings.EMAIL_FILE_PATH}/ "
            "(one file per batch of messages) instead of being sent."
        )

    def _start(self, name: str, command: list[str]) -> subprocess.Popen:
        process = subprocess.Popen(command, cwd=settings.BASE_DIR)
        self.children.append((name, process))
        return process

    def _start_simulator(self, python: str, host: str, port: int) -> None:
        self._start(
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
            ],
        )
        # Runs the simulator starts on its own are only seen at the slow cadence; keep that short for the demo
        # (the worker started next inherits it) unless the operator chose a value.
        os.environ.setdefault("WEBADMIT_SLOW_INTERVAL", "30")
        if not wait_for_port(host, port, 20):
            raise CommandError(f"The WebAdMIT simulator did not start on port {port}.")
        try:
            demo.ensure_demo_credential(f"http://{host}:{port}", DEMO_API_KEY)
        except WebAdmitError as error:
            raise CommandError(f"Could not load the demo data from the simulator: {error.message}") from None
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

    def _watch(self) -> None:
        while True:
            for name, process in self.children:
                if process.poll() is not None:
                    raise CommandError(
                        f"The {name} process stopped (exit code {process.returncode}); stopping the rest."
                    )
            time.sleep(0.5)

    def _stop_all(self) -> None:
        for _, process in self.children:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _, process in self.children:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
