"""Calls to WebAdMIT that collection makes: a download link for a file it keeps (E5) or for one zip of a PDF Manager
batch (P6), from the key's collection share.

Nobody waits on these calls, so they take the engine's own timeouts, and a key that cannot be used now is not called
at all: a rejected key waits for its checks, a rate-limited one for its backoff (both raised as the error the call
would most likely end in, with `retry_after` where there is one). Each call made is counted (CollectionCall) and at
most WEBADMIT_COLLECTION_SHARE percent of the key's hourly limit is spent this way, so a morning of big files cannot
starve the refreshes. A 429 makes the whole credential wait, as after a refresh's.

The link is a bearer credential that dies within seconds: it is returned, never stored or logged.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import requests
from django.conf import settings
from django.utils import timezone

from webadmit_dash.core.models import Credential, ExportFile, Kind
from webadmit_dash.engine import credentials, downloads, schedule
from webadmit_dash.engine.models import CollectionCall
from webadmit_dash.webadmit.client import WebAdmitClient
from webadmit_dash.webadmit.errors import KeyRejected, RateLimited, RequestRejected, WebAdmitError
from webadmit_dash.webadmit.statuses import FileStatus

logger = logging.getLogger(__name__)

SHARE_WINDOW = timedelta(hours=1)  # WebAdMIT's own window


class ShareSpent(RateLimited):
    """No call was made: the key's collection calls of the last hour reached their share of its limit."""


class NotReady(WebAdmitError):
    """WebAdMIT gave no link: the file is not (or no longer) downloadable; `status` is what it said."""

    permanent = True
    kind = "not_ready"

    def __init__(self, message: str, *, status: FileStatus) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Link:
    url: str = field(repr=False)
    timeouts: tuple[float, float]  # connect, read: the engine's own


def session() -> requests.Session:
    """The process's pooled session: a worker collecting many files reuses its connections."""
    return credentials.shared_session()


def download_link(export_file: ExportFile, now: datetime | None = None) -> Link:
    """A fresh link to the file's bytes (E5), or the WebAdmitError that says why not (recorded on the credential when
    a call was made). The caller starts streaming at once: the link dies within 30 seconds."""
    if export_file.kind != Kind.EXPORT:
        # E5 names an export's file: asked with a batch's ids it could give another export's file (downloads.py).
        raise RequestRejected("A PDF Manager batch is collected zip by zip, never through E5.")

    def ask(client: WebAdmitClient) -> str:
        link = client.get_download_link(export_file.export_webadmit_id, export_file.webadmit_id)
        if link.url is None:
            raise NotReady(downloads.not_downloadable_reason(link.file.status), status=link.file.status)
        return link.url

    return _link(export_file.identity.credential, ask, now or timezone.now())


def zip_link(batch: ExportFile, zip_webadmit_id: int, now: datetime | None = None) -> Link:
    """A fresh link to one zip of a PDF Manager batch (P6), as `download_link` gives a file's: counted in the same
    share, refused the same way. A batch no longer ready has nothing to give (NotReady, no call made)."""
    if not batch.status_enum.is_downloadable:
        raise NotReady(downloads.not_downloadable_reason(batch.status_enum), status=batch.status_enum)
    identity_id = batch.identity.webadmit_id

    def ask(client: WebAdmitClient) -> str:
        return client.get_pdf_manager_zip_link(identity_id, zip_webadmit_id).url

    return _link(batch.identity.credential, ask, now or timezone.now())


def _link(credential: Credential, ask: Callable[[WebAdmitClient], str], now: datetime) -> Link:
    refusal = _held_back(credential, now)
    if refusal is not None:
        raise refusal
    _count_call(credential, now)
    try:
        with credentials.client_for(credential) as client:
            url = ask(client)
    except NotReady:
        credentials.record_health(credential, None)  # WebAdMIT answered: the key works
        raise
    except RateLimited as error:
        wait = schedule.rate_limited_wait_for_key(error.retry_after)
        credentials.note_rate_limited(
            credential, until=now + wait, factor=schedule.rate_limited_factor(credential), now=now
        )
        raise RateLimited(error.message, retry_after=wait.total_seconds()) from None
    except WebAdmitError as error:
        credentials.record_health(credential, error)
        raise
    credentials.record_health(credential, None)
    if not downloads.is_followable(url):
        raise RequestRejected(
            "WebAdMIT offered a download address that is not a secure (https) link, so it was not followed."
        )
    timeouts = (float(settings.WEBADMIT_CONNECT_TIMEOUT), float(settings.WEBADMIT_READ_TIMEOUT))
    return Link(url=url, timeouts=timeouts)


def _held_back(credential: Credential, now: datetime) -> WebAdmitError | None:
    if credential.health == Credential.Health.KEY_REJECTED:
        return KeyRejected(f"WebAdMIT rejects the API key of {credential.name}; collection waits until it is fixed.")
    if credential.backoff_until is not None and credential.backoff_until > now:
        wait = (credential.backoff_until - now).total_seconds()
        return RateLimited(f"{credential.name} is waiting out WebAdMIT's rate limit.", retry_after=wait)
    return None


def collection_share(credential: Credential) -> int:
    """How many collection calls the key may make in an hour: WEBADMIT_COLLECTION_SHARE percent of its limit."""
    try:
        hourly = schedule.hourly_limit(credential)
    except schedule.NonsenseBudget:
        hourly = settings.WEBADMIT_RATE_LIMIT_PER_HOUR
    return max(1, hourly * settings.WEBADMIT_COLLECTION_SHARE // 100)


def _count_call(credential: Credential, now: datetime) -> None:
    """Records the call about to be made, or raises ShareSpent (recording nothing). Written first, then counted with
    the calls recorded before it, so two workers asking at once see each other (as interactive calls are counted)."""
    call = CollectionCall.objects.create(credential=credential, made_at=now)
    counted = CollectionCall.objects.filter(pk__lte=call.pk, credential=credential, made_at__gt=now - SHARE_WINDOW)
    share = collection_share(credential)
    if counted.count() > share:
        call.delete()
        oldest = counted.order_by("made_at").values_list("made_at", flat=True).first() or now
        wait = max((oldest + SHARE_WINDOW - now).total_seconds(), 1.0)
        raise ShareSpent(
            f"{credential.name}: collection used its share of the hourly limit ({share} calls); "
            f"it goes on in about {math.ceil(wait / 60)} minutes.",
            retry_after=wait,
        )


def forget_old_calls(now: datetime) -> int:
    deleted, _ = CollectionCall.objects.filter(made_at__lt=now - SHARE_WINDOW).delete()
    return deleted
