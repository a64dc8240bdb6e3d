"""Signal receivers of the web app, connected in WebConfig.ready()."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver
from django.http import HttpRequest

from webadmit_dash.core.models import UserPreference
from webadmit_dash.web import poll_gate

TIME_ZONE_SESSION_KEY = "time_zone"
# Present (True) while the user asked for clock times only (UserPreference.absolute_times).
CLOCK_ONLY_SESSION_KEY = "clock_only"


@receiver(user_logged_in, dispatch_uid="web.remember_time_zone")
def remember_time_zone(sender: object, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    """Copies the user's time zone (and clock style) into the session, where UserTimezoneMiddleware reads them
    without a query."""
    if request is None:
        return
    zone, clock_only = UserPreference.objects.filter(user=user).values_list("time_zone", "absolute_times").first() or (
        "",
        False,
    )
    remember_time_style(request, zone, clock_only)


def remember_time_style(request: HttpRequest, zone: str, clock_only: bool) -> None:
    """Keeps the session's copy of how this user's times are shown (read by UserTimezoneMiddleware)."""
    if zone:
        request.session[TIME_ZONE_SESSION_KEY] = zone
    else:
        request.session.pop(TIME_ZONE_SESSION_KEY, None)
    if clock_only:
        request.session[CLOCK_ONLY_SESSION_KEY] = True
    else:
        request.session.pop(CLOCK_ONLY_SESSION_KEY, None)


@receiver(user_logged_out, dispatch_uid="web.forget_poll_session")
def forget_poll_session(sender: object, request: HttpRequest | None, **kwargs: Any) -> None:
    """A signed-out session's polls go the whole way again in this process at once (web/poll_gate.py); the other
    processes stop answering for it within poll_gate.SESSION_SECONDS."""
    cookie = request.COOKIES.get(settings.SESSION_COOKIE_NAME) if request is not None else None
    if cookie:
        poll_gate.forget(cookie)
