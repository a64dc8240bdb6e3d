"""The engine's terms, a door for those who read what it does (the pages' lateness, operations' metrics): what a
refresh ends in, and how far a cadence may stretch. Constants only, so reading them runs nothing of the engine."""

from __future__ import annotations

import enum
from datetime import timedelta

JITTER = 0.1  # +-10% on every interval, so identities imported together drift apart instead of firing together
MAX_INTERVAL = timedelta(hours=1)  # stretched cadences never exceed this: refreshing slows but never stops
# The longest a scheduled refresh can be expected to wait: the longest interval with its jitter.
LONGEST_CADENCE = MAX_INTERVAL * (1 + JITTER)


class Outcome(enum.StrEnum):
    REFRESHED = "refreshed"
    FAILED = "failed"
    SKIPPED = "skipped"  # locked by another refresh, paused by hand, disabled or deleted
