"""The Identities page: every identity the user may see, when it was last refreshed, and Refresh now.

Its table re-fetches itself by htmx while the tab is visible, quickly while a refresh is under way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from webadmit_dash.core.models import Credential
from webadmit_dash.shared.http import AuthenticatedHttpRequest, login_required_htmx
from webadmit_dash.web import common, freshness
from webadmit_dash.web.common import FAST_POLL_SECONDS, SLOW_POLL_SECONDS, IdentityRow
from webadmit_dash.web.freshness import Source

# The Identities page's table re-fetches itself by htmx (files/identities.html#identity_table): this is its id,
# which htmx sends as HX-Target; a Refresh now answer raises answers.IDENTITIES_CHANGED_EVENT so it re-fetches at once.
IDENTITY_TABLE_ID = "identity-table"


@require_GET
@login_required_htmx
def identity_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Every identity the user may see, with when it was last refreshed and a Refresh now button.

    The table re-fetches itself while the tab is visible; those requests (HX-Target: the table) get the table and
    the banner (out of band), so that a problem that starts or ends meanwhile shows without a reload.
    """
    now = timezone.now()
    identities = common.identities(request.user)
    credentials = common.credentials(identities)
    context = _identity_table_context(request, identities, credentials, now)
    context["problems"] = freshness.problems(identities, credentials, now, request.user)
    if request.htmx.target == IDENTITY_TABLE_ID and not request.htmx.history_restore_request:
        return render(request, "files/identities.html#identity_update", context)
    return render(request, "files/identities.html", context)


def _identity_table_context(
    request: AuthenticatedHttpRequest,
    identities: list[IdentityRow],
    credentials: Mapping[int, Credential],
    now: datetime,
) -> dict[str, Any]:
    for identity in identities:
        identity.credential = credentials[identity.credential_id]
    sources = freshness.sources(identities, now, limit=None)
    return {
        "now": now,
        "sources": sources,
        "poll_interval": _identity_poll_interval(sources),
        # The table's own re-fetch asks for the page's address, so this is the page's in either case.
        "current_path": request.get_full_path(),
    }


def _identity_poll_interval(sources: Sequence[Source]) -> int:
    """Fast while a refresh is queued or running, so "refreshing…" turns into "Refreshed" within seconds; slow
    otherwise, which still moves "Last refreshed" on as the background refreshes come in."""
    return FAST_POLL_SECONDS if any(source.busy for source in sources) else SLOW_POLL_SECONDS
