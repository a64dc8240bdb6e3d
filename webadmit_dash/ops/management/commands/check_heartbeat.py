"""`manage.py check_heartbeat`: exits 1 when beat's heartbeat is late; the beat container's health check."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from webadmit_dash.ops import health


class Command(BaseCommand):
    help = "Exits with status 1 when the beat-driven dispatcher has not run recently (BEAT_LATE_AFTER seconds)."

    def handle(self, *args: Any, **options: Any) -> None:
        check = health.check_beat(timezone.now())
        if not check.ok:
            raise CommandError(check.detail, returncode=1)
        self.stdout.write(check.detail)
