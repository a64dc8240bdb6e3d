"""What campus sign-in (a proxy's header, OpenID Connect) may do with the person it brings, and how it says no.

The name and e-mail come from outside: a user name that is too long, or holds a control character, is refused
rather than cut (cut, it could become someone else's name). A campus sign-in never becomes an account of this site
that has its own password or is a superuser (the local `admin`), unless CAMPUS_SIGN_IN_MATCHES_LOCAL_ACCOUNTS says
so: whoever controls a campus account named `admin` would otherwise own the site. A refusal is logged for the
operator and shown to the person in words on the sign-in page; nothing of the account is changed.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpRequest

from webadmit_dash.core.text import has_line_breaks_or_controls, one_line

logger = logging.getLogger(__name__)

USERNAME_MAX_LENGTH = 150  # django.contrib.auth's username column
EMAIL_MAX_LENGTH = 254  # its e-mail column, and the longest address SMTP allows
REFUSAL_ATTRIBUTE = "campus_sign_in_refused"


class SignInRefused(Exception):
    """A campus sign-in this site will not complete: `message` is for the person, the exception's text for the log."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(reason)
        self.message = message


def shown(value: str) -> str:
    """Outside text as a log line or a message may quote it: on one line, and short."""
    return one_line(value, 80)


def user_name(raw: str) -> str:
    """The campus user name, or SignInRefused when it cannot be one here."""
    name = raw.strip()
    if not name:
        raise SignInRefused("Your campus account sent no user name, so you cannot be signed in.", "empty user name")
    if has_line_breaks_or_controls(name):
        raise SignInRefused(
            "Your campus user name holds characters this site cannot use (control characters), so you cannot be "
            "signed in. Ask your administrator.",
            f"user name {shown(name)!r} holds control characters",
        )
    if len(name) > USERNAME_MAX_LENGTH:
        raise SignInRefused(
            f"Your campus user name is longer than this site accepts ({USERNAME_MAX_LENGTH} characters), so you "
            "cannot be signed in. Ask your administrator.",
            f"user name {shown(name)!r} is {len(name)} characters long (at most {USERNAME_MAX_LENGTH})",
        )
    return name


def e_mail(raw: object) -> str:
    """The e-mail address a campus sign-in brings ('' for none), or SignInRefused when it cannot be kept.

    Cut, an address would send someone's notifications to another mailbox: refused instead."""
    if not isinstance(raw, str):
        return ""
    address = raw.strip()
    if has_line_breaks_or_controls(address) or len(address) > EMAIL_MAX_LENGTH:
        raise SignInRefused(
            f"The e-mail address your campus account sent is not one this site can keep (at most "
            f"{EMAIL_MAX_LENGTH} characters, on one line), so you cannot be signed in. Ask your administrator.",
            f"e-mail {shown(address)!r} ({len(address)} characters) is too long or holds control characters",
        )
    return address


def check_campus_may_use(user: User) -> None:
    """Refuses signing in as an account that has its own password or is a superuser (unless the setting allows)."""
    if settings.CAMPUS_SIGN_IN_MATCHES_LOCAL_ACCOUNTS:
        return
    if user.is_superuser or user.has_usable_password():
        raise SignInRefused(
            f"“{shown(user.get_username())}” is an account of this site with its own password, so campus sign-in "
            "cannot open it. Sign in with that account's password, or ask an administrator.",
            f"user name {shown(user.get_username())!r} belongs to a local account (a superuser or one with a "
            "password); set CAMPUS_SIGN_IN_MATCHES_LOCAL_ACCOUNTS=true to allow it",
        )


def refuse(request: HttpRequest, refusal: SignInRefused, *, via: str) -> None:
    """Logs the refusal and keeps its message on the request, for the sign-in page (context_processors.sign_in)."""
    logger.warning("Refused a campus sign-in by %s: %s", via, refusal)
    setattr(request, REFUSAL_ATTRIBUTE, refusal.message)
