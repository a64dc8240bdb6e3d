"""Sign-in throttling (django-axes), as this site applies it: whose address counts, and what a locked-out person
reads. Both sign-in forms (the site's and the admin's) and the password change's old password go through Django's
`authenticate`, where axes counts failures per user name and address and refuses, until the cool-off ends, once
there were too many.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from webadmit_dash.accounts.peers import peer_in


def client_address(request: HttpRequest) -> str | None:
    """The address a sign-in came from, or None when there is none (a request made in a test or a shell).

    Behind a TLS proxy every request arrives from the proxy, so the address the proxy saw is read from the last
    entry of X-Forwarded-For (the one the proxy added); earlier entries are whatever the client sent, and trusting
    them would let an attacker pick a fresh address for every guess. The header is believed only when the request
    comes from one of TRUSTED_PROXIES: anyone reaching the web port directly could write it too. Only a real
    address is returned: the column is an IP address (PostgreSQL's inet refuses anything else).
    """
    candidates = [request.META.get("REMOTE_ADDR", "")]
    if settings.BEHIND_TLS_PROXY and peer_in(request, settings.TRUSTED_PROXIES):
        candidates.insert(0, request.META.get("HTTP_X_FORWARDED_FOR", "").rsplit(",", 1)[-1].strip())
    for candidate in candidates:
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None


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
