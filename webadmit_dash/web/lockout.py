"""Sign-in throttling (django-axes), as this site applies it: whose address counts (accounts.peers.client_address,
shared with the callbacks' rate limit), and what a locked-out person reads. Both sign-in forms (the site's and the
admin's) and the password change's old password go through Django's `authenticate`, where axes counts failures per
user name and address and refuses, until the cool-off ends, once there were too many.
"""

from __future__ import annotations

from typing import Any

from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from webadmit_dash.accounts.peers import client_address


def locked_out(request: HttpRequest, original_response: HttpResponse | None, credentials: Any) -> HttpResponse:
    """The page a locked-out sign-in gets (429): what happened, until when, and what to do meanwhile."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    address = getattr(request, "axes_ip_address", "") or client_address(request)
    latest = AccessAttempt.objects.filter(username=username, ip_address=address).aggregate(at=Max("attempt_time"))
    cool_off = settings.AXES_COOLOFF_TIME
    until = (latest["at"] or timezone.now()) + cool_off
    context = {
        "username": username,
        "until": until,
        "minutes_left": max(1, round((until - timezone.now()).total_seconds() / 60)),
        "failures_allowed": settings.LOGIN_FAILURES_ALLOWED,
        "cool_off_minutes": settings.LOGIN_COOLOFF_MINUTES,
        "back": _back_to(request.path),
    }
    return render(request, "registration/locked_out.html", context, status=429)


def _back_to(path: str) -> tuple[str, str]:
    """Where the lockout page's button leads, and its words: back to the form the refused attempt came from."""
    if path.startswith(reverse("admin:index")):
        return reverse("admin:login"), "Back to sign in"
    if path == reverse("password_change"):
        return reverse("preferences"), "Back to Preferences"
    return reverse("login"), "Back to sign in"
