"""When a collection or delivery that failed for a reason that may pass is tried again: DELIVERY_FIRST_RETRY seconds
(30) after the first failure, then twice as long each time up to DELIVERY_MAX_RETRY (an hour), DELIVERY_ATTEMPTS
(12) tries in all; and how long a worker's claim on one holds while it works (renewed as the bytes flow)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings


def retry_delay(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed try (1 for the first)."""
    seconds = settings.DELIVERY_FIRST_RETRY * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, settings.DELIVERY_MAX_RETRY))


def out_of_tries(attempts: int) -> bool:
    return attempts >= settings.DELIVERY_ATTEMPTS


def lease() -> timedelta:
    """A claim's life. A worker killed mid-transfer frees its file after this long; a live one renews its claim
    every third of it while bytes flow, so a long transfer keeps it."""
    return timedelta(seconds=settings.COLLECTION_LEASE_SECONDS)
