"""`manage.py generate_secrets`: a new Django secret key and encryption key, as lines for a `.env` file.

Production reads its secrets from the environment (compose reads `.env`): `python manage.py generate_secrets >> .env`.
With `--write`, outside production, they are kept in DATA_DIR instead, with the folders a laptop's processes share
(local_data.py), for someone who starts `runserver` and a worker by hand rather than with `make run`.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from webadmit_dash import local_data
from webadmit_dash.config import new_secret


class Command(BaseCommand):
    help = "Prints a new DJANGO_SECRET_KEY and ENCRYPTION_KEYS for a .env file (or, with --write, creates DATA_DIR)."
    # It makes what the checks would ask for: it must run without them.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--write",
            action="store_true",
            help="Outside production: create DATA_DIR with generated secrets (kept there, never printed).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["write"]:
            self._write()
            return
        self.stdout.write(
            "# webadmit-dash secrets: keep them out of version control, and keep ENCRYPTION_KEYS: without it, the\n"
            "# API keys and webhooks stored in the database cannot be read.\n"
            f"DJANGO_SECRET_KEY={new_secret('django')}\n"
            f"ENCRYPTION_KEYS={new_secret('fernet')}\n"
        )

    def _write(self) -> None:
        if settings.PRODUCTION:
            raise CommandError(
                "--write is for a machine without servers; in production, put the printed lines in the environment "
                "(python manage.py generate_secrets >> .env)."
            )
        local_data.prepare(settings)
        self.stdout.write(f"{settings.DATA_DIR} is ready (owner-only); its secrets are kept there.")
