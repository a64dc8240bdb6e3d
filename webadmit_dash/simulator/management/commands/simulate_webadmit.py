"""`python manage.py simulate_webadmit`: serve the offline WebAdMIT until Ctrl-C (local use only)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from webadmit_dash.simulator.server import add_arguments, run


class Command(BaseCommand):
    help = (
        "Serve a simulated WebAdMIT API v1 with seeded identities, exports and export files. "
        "Its /_simulator/ control endpoints take no key: bind it to localhost only."
    )
    # The simulator has no models and must start on a machine with no database yet.
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        run(options, out=self.stdout)
