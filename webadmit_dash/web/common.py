"""What every view shares: the signed-in request, sign-in for htmx, and the user's identities.

Also the two lookups that keep the web's 404 rule (a file or identity the user may not see is not found), and the
poll intervals that both polling pages use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect
from django_htmx.middleware import HtmxDetails

from webadmit_dash.core import access
from webadmit_dash.core.models import Credential, ExportFile, UserIdentity

# The page polls often while something it shows is unfinished, and keeps polling (slowly) once all is settled:
# a settled list still gains new runs.
FAST_POLL_SECONDS = 3
SLOW_POLL_SECONDS = 30
# What the pages read of an identity (see identities); reading any other field would cost a query per identity.
IDENTITY_FIELDS = (
    "credential_id",
    "webadmit_id",
    "association",
    "institution",
    "organization",
    "cycle",
    "label",
    "slow_interval",
    "paused",
    "refresh_queued_at",
    "refreshing_until",
    "next_refresh_at",
    "last_success_at",
    "error_kind",
    "error_message",
    "change_seq",
)


class AuthenticatedHttpRequest(HttpRequest):
    user: User
    htmx: HtmxDetails


def login_required_htmx(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """`login_required`, except that an htmx request from a signed-out browser is sent to the sign-in page.

    htmx follows a plain 302 inside its XMLHttpRequest and would swap the sign-in form into the table; an
    HX-Redirect navigates the whole tab there instead, coming back to the page the user was on.
    """
    protected = login_required(view)

    @wraps(view)
    def wrapper(request: AuthenticatedHttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.htmx and not request.user.is_authenticated:
            return sign_in_again(request)
        return protected(request, *args, **kwargs)

    return wrapper


def sign_in_again(request: AuthenticatedHttpRequest) -> HttpResponse:
    back_to = request.htmx.current_url_abs_path or reverse("recent_files")
    return HttpResponseClientRedirect(redirect_to_login(back_to).url)


def parse_int(raw: str | None, default: int = 0) -> int:
    try:
        return int(raw or default)
    except ValueError:
        return default


def identities(user: User) -> list[UserIdentity]:
    """The user's identities, holding only the fields the pages read: a superuser may see hundreds, and any other
    field would load on first access, a query each (which the query-count tests catch)."""
    return list(access.visible_identities(user).only(*IDENTITY_FIELDS))


def credentials(identities: Sequence[UserIdentity]) -> dict[int, Credential]:
    # Looked up by id where needed: attaching one to each of 500 identities costs more than the rest of the page.
    return Credential.objects.only("name", "health", "next_check_at", "last_checked_at").in_bulk(
        {identity.credential_id for identity in identities}
    )


def get_identity_for_user(user: User, pk: int) -> UserIdentity:
    identity = access.visible_identities(user).filter(pk=pk).first()
    if identity is None:
        raise Http404("No such identity.")
    return identity


def get_file_for_user(user: User, pk: int) -> ExportFile:
    export_file = (
        ExportFile.objects.filter(pk=pk, identity__in=access.visible_identities(user))
        .select_related("identity__credential", "export")
        .first()
    )
    if export_file is None:
        raise Http404("No such file.")
    return export_file
