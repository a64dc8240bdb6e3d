"""Sign-in by a trusted reverse proxy (Shibboleth, mod_auth_mellon, oauth2-proxy): it authenticates the person and
sends their user name in a header (REMOTE_USER_HEADER) and, optionally, their groups (REMOTE_GROUPS_HEADER).

Only requests coming from the proxy's own addresses (REMOTE_USER_PROXIES) are believed: the same header from
anywhere else is ignored, since anyone can send any header. Put the web server where only the proxy can reach it
anyway; the allow-list is the second lock. Users are created on their first sign-in; what names are refused, and
which accounts a campus sign-in may not open, is campus.py's to say.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.backends import RemoteUserBackend
from django.contrib.auth.middleware import RemoteUserMiddleware
from django.contrib.auth.models import User
from django.http import HttpRequest

from webadmit_dash.accounts.campus import SignInRefused, check_campus_may_use, refuse, user_name
from webadmit_dash.accounts.groups import split, sync_groups
from webadmit_dash.accounts.peers import peer_in

logger = logging.getLogger(__name__)


def from_trusted_proxy(request: HttpRequest) -> bool:
    return peer_in(request, settings.REMOTE_USER_PROXIES)


def header_text(value: str) -> str:
    """A header's text as the proxy wrote it. WSGI (PEP 3333) hands headers over as their bytes decoded as
    latin-1, while proxies send names like `josé` in UTF-8: decoded again, unless the bytes are not UTF-8."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


class TrustedProxyMiddleware(RemoteUserMiddleware):
    """Django's RemoteUserMiddleware, reading the configured header, and only from the proxy's addresses."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.header = settings.REMOTE_USER_HEADER  # type: ignore[misc]  # read per instance: settings can change in tests
        super().__init__(*args, **kwargs)

    def process_request(self, request: HttpRequest) -> None:
        if self.header in request.META and not from_trusted_proxy(request):
            logger.warning(
                "Ignored the sign-in header %s from %s, which is not in REMOTE_USER_PROXIES",
                self.header,
                request.META.get("REMOTE_ADDR"),
            )
            # As if it had not been sent; a session signed in by the proxy ends, as it would without the header.
            del request.META[self.header]
            groups_header = settings.REMOTE_GROUPS_HEADER
            if groups_header:
                request.META.pop(groups_header, None)
        for header in (self.header, settings.REMOTE_GROUPS_HEADER):
            if header and header in request.META:
                request.META[header] = header_text(request.META[header])
        super().process_request(request)


class TrustedProxyBackend(RemoteUserBackend):
    """Creates the user on first sign-in, then makes their groups those of REMOTE_GROUPS_HEADER (when set)."""

    create_unknown_user = True

    def configure_user(self, request: HttpRequest, user: User, created: bool = True) -> User:  # type: ignore[override]
        if created:
            # Signed in by the campus only: no password here that could be guessed or reset.
            user.set_unusable_password()
            user.save(update_fields=["password"])
        return user

    def authenticate(self, request: HttpRequest | None, remote_user: str) -> User | None:  # type: ignore[override]
        if request is None or not from_trusted_proxy(request):
            return None
        try:
            name = user_name(remote_user)
            existing = User.objects.filter(username=name).first()
            if existing is not None:
                check_campus_may_use(existing)
        except SignInRefused as refusal:
            refuse(request, refusal, via=f"the proxy's {settings.REMOTE_USER_HEADER}")
            return None
        user = super().authenticate(request, name)
        groups_header = settings.REMOTE_GROUPS_HEADER
        if user is not None and groups_header:
            sync_groups(user, split(request.META.get(groups_header, ""), settings.REMOTE_GROUPS_SEPARATOR))
        return user
