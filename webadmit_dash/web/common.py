"""What every page of `web` shares: the user's identities, where "back" goes, the two lookups that keep the web's
404 rule (a file or identity the user may not see is not found), and the poll intervals both polling pages use.

The signed-in request and sign-in for htmx are in `shared.http`, below every feature app.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from webadmit_dash.core import access
from webadmit_dash.core.models import Credential, ExportFile, IdentityNames, UserIdentity

# The page polls often while something it shows is unfinished, and keeps polling (slowly) once all is settled:
# a settled list still gains new runs.
FAST_POLL_SECONDS = 3
SLOW_POLL_SECONDS = 30


@dataclass(slots=True)
class IdentityRow(IdentityNames):
    """An identity as the pages read it: the fields they show, from one `values_list` query.

    A superuser may see 500 identities on every page view; building model instances for them cost 5 ms of the
    first page's 30 ms (benchmarks/dashboard.py), and the pages never save one.
    """

    pk: int
    credential_id: int
    webadmit_id: int
    association: str
    institution: str
    organization: str
    cycle: str
    label: str
    fast_interval: int | None
    slow_interval: int | None
    paused: bool
    refresh_queued_at: datetime | None
    refreshing_until: datetime | None
    last_success_at: datetime | None
    last_attempt_at: datetime | None
    next_refresh_at: datetime | None
    error_kind: str
    error_message: str
    change_seq: int
    watch_pdf_batches: bool = False  # Recent Files offers its kind filter only where batches are followed
    credential: Credential | None = None  # attached where a page shows it (the Identities page)


IDENTITY_FIELDS = tuple(field.name for field in fields(IdentityRow) if field.name != "credential")


def back_to(request: HttpRequest, raw: str | None) -> str:
    """Where a page's "back" goes: `raw` (a `next` parameter) when it is a path on this site, else Recent Files.

    Checked, because it comes from the browser: a link elsewhere would make this site an open redirect.
    """
    if raw and raw.startswith("/") and url_has_allowed_host_and_scheme(raw, {request.get_host()}):
        return raw
    return reverse("recent_files")


def identities(user: User) -> list[IdentityRow]:
    """The identities the user may see, as the pages read them."""
    return identity_rows(access.visible_identities(user))


def identity_rows(identities: QuerySet[UserIdentity]) -> list[IdentityRow]:
    return [IdentityRow(*row) for row in identities.values_list(*IDENTITY_FIELDS)]


def credentials(identities: Sequence[IdentityRow]) -> dict[int, Credential]:
    # Looked up by id where needed: attaching one to each of 500 identities costs more than the rest of the page.
    return Credential.objects.only("name", "health", "next_check_at", "last_checked_at").in_bulk(
        {identity.credential_id for identity in identities}
    )


# Primary keys are signed 64-bit columns; a larger id from the URL would make the database driver raise.
MAX_PK = 2**63 - 1


def get_identity_for_user(user: User, pk: int) -> UserIdentity:
    if not 0 < pk <= MAX_PK:
        raise Http404("No such identity.")
    identity = access.visible_identities(user).filter(pk=pk).first()
    if identity is None:
        raise Http404("No such identity.")
    return identity


def get_file_for_user(user: User, pk: int) -> ExportFile:
    if not 0 < pk <= MAX_PK:
        raise Http404("No such file.")
    export_file = (
        ExportFile.objects.filter(pk=pk, identity__in=access.visible_identities(user))
        .select_related("identity__credential", "export")
        .first()
    )
    if export_file is None:
        raise Http404("No such file.")
    return export_file
