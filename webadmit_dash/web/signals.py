"""Signal receivers of the web app, connected in WebConfig.ready()."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest

from webadmit_dash.core.models import UserPreference

TIME_ZONE_SESSION_KEY = "time_zone"


@receiver(user_logged_in, dispatch_uid="web.remember_time_zone")
def remember_time_zone(sender: object, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    """Copies the user's time zone into the session, where UserTimezoneMiddleware reads it without a query."""
    if request is None:
        return
    zone = UserPreference.objects.filter(user=user).values_list("time_zone", flat=True).first()
    if zone:
        request.session[TIME_ZONE_SESSION_KEY] = zone
    else:
        request.session.pop(TIME_ZONE_SESSION_KEY, None)
