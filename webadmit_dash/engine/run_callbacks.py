"""Whether a run started here asks WebAdMIT to call back when it is ready (WEBADMIT_CALLBACKS), and at which address.

An export's run (E4) takes any callback address. A PDF Manager batch (P3) takes `https://` ones only: WebAdMIT
refuses the whole start with a 422 otherwise (the SPEC, "PDF Manager"), so a batch is given a callback only when
SITE_URL is https, or when WEBADMIT_HTTP_BATCH_CALLBACKS says the WebAdMIT answering is the simulator started with
`--http-batch-callbacks` (a demo or the tests, without TLS). A batch given none is followed by the fast cadence
alone, as every run is while callbacks are off.
"""

from __future__ import annotations

import functools
import logging
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse

from webadmit_dash.core.models import Kind

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Callback:
    """What a run is started with: the token its RunRequest keeps, and the address WebAdMIT is given."""

    token: str
    url: str


def for_new_run(kind: Kind) -> Callback | None:
    """The callback a run of this kind, about to be started, asks for; None when it asks for none."""
    if not settings.WEBADMIT_CALLBACKS:
        return None
    if kind == Kind.PDF_BATCH and not _batches_may_be_called_back():
        return None
    # Unguessable and one per run: a forged call can at most cause one refresh (the status is read from WebAdMIT,
    # never taken from the call).
    token = secrets.token_urlsafe(32)
    return Callback(token, callback_url(token))


def callback_url(token: str) -> str:
    """Where WebAdMIT is asked to call when a run started here is ready: one address for exports and batches (the
    token says which run, hence which body to expect: schedules/callback_bodies.py)."""
    return f"{settings.SITE_URL}{reverse('schedules:webadmit_callback', args=[token])}"


def _batches_may_be_called_back() -> bool:
    if settings.SITE_URL.startswith("https://") or settings.WEBADMIT_HTTP_BATCH_CALLBACKS:
        return True
    _say_why_batches_have_none()
    return False


@functools.cache
def _say_why_batches_have_none() -> None:
    """Once per process: the reason holds until the settings change, which restarts it. SITE_URL is not logged
    (an address may carry a user and password), only that it is not https."""
    logger.warning(
        "PDF Manager batches are started without a callback: WebAdMIT takes https:// callbacks only and SITE_URL "
        "is not https:// (WEBADMIT_HTTP_BATCH_CALLBACKS lets a simulator started with --http-batch-callbacks take "
        "http:// ones); the fast cadence follows them"
    )
