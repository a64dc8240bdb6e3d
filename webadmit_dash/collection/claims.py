"""Who is working on a collected file or a delivery: a claim (a lease in `claimed_until`) taken by the dispatcher when
it sends the task, held by the worker while bytes flow, and lost by a worker that dies.

The claim's time is its token: the task carries it, and the worker's start, every renewal and the write of the
outcome are conditional on it, so a message delivered twice (Redis hands an unacknowledged one out again after its
visibility timeout), or one that waited in the queue until the dispatcher claimed the row again, does nothing.
While queued, a claim lasts QUEUED_LEASE (a backlog of big files may wait minutes); once a worker starts, the
shorter lease (`retries.lease`), renewed while bytes flow. Starting counts the try, so a transfer that kills its
worker every time still reaches its last try and is told, instead of being sent again forever.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

from django.db.models import F, Q
from django.utils import timezone

from webadmit_dash.collection.models import CollectedFile, FileDelivery
from webadmit_dash.collection.retries import lease

Claimable = type[CollectedFile] | type[FileDelivery]


class LostClaim(Exception):
    """Another worker holds this file or delivery now (ours ran out): stop and write nothing."""


def _free(now: datetime) -> Q:
    return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)


def due_ids(model: Claimable, state: str, now: datetime, limit: int) -> list[int]:
    rows = model.objects.filter(_free(now), state=state, next_attempt_at__lte=now).order_by("next_attempt_at")
    return list(rows.values_list("pk", flat=True)[:limit])


# How long a claim taken by the dispatcher lasts until a worker starts on it: a message lost with its worker is sent
# again after this long.
QUEUED_LEASE = timedelta(minutes=10)


def claim(model: Claimable, pk: int, state: str, now: datetime) -> datetime | None:
    """Claims a due row for one worker; its token (the claim's end), or None when it is not due or someone has it."""
    until = now + max(QUEUED_LEASE, lease())
    taken = model.objects.filter(_free(now), pk=pk, state=state, next_attempt_at__lte=now).update(claimed_until=until)
    return until if taken else None


class Holder:
    """A claim held while bytes flow: renewed every third of the lease, or LostClaim when it was taken over."""

    def __init__(self, model: Claimable, pk: int, token: datetime) -> None:
        self.model, self.pk, self.token = model, pk, token
        self._renewed = time.monotonic()

    @classmethod
    def start(cls, model: Claimable, pk: int, token: str | datetime) -> Holder | None:
        """The worker's start on what the dispatcher claimed with `token`: the claim becomes the worker's (the
        shorter lease) and the try is counted, in one conditional write. None when the claim is no longer that one:
        a repeated or outdated message, which must do nothing."""
        token = datetime.fromisoformat(token) if isinstance(token, str) else token
        until = timezone.now() + lease()
        started = model.objects.filter(pk=pk, claimed_until=token).update(
            claimed_until=until, attempts=F("attempts") + 1
        )
        return cls(model, pk, until) if started else None

    def keep(self) -> None:
        if time.monotonic() - self._renewed < lease().total_seconds() / 3:
            return
        until = timezone.now() + lease()
        if not self.model.objects.filter(pk=self.pk, claimed_until=self.token).update(claimed_until=until):
            raise LostClaim(f"{self.model.__name__} {self.pk}: another worker took over")
        self.token, self._renewed = until, time.monotonic()

    def through(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """The chunks, renewing the claim as they pass."""
        for chunk in chunks:
            self.keep()
            yield chunk

    def settle(self, **fields: object) -> bool:
        """Writes the outcome and ends the claim, if it is still ours."""
        return bool(
            self.model.objects.filter(pk=self.pk, claimed_until=self.token).update(claimed_until=None, **fields)
        )
