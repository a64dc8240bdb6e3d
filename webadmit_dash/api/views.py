"""The API tokens page: a person makes tokens for their scripts (each shown once) and revokes them."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from webadmit_dash.api import tokens
from webadmit_dash.api.models import ApiToken
from webadmit_dash.core.text import has_line_breaks_or_controls, one_line
from webadmit_dash.shared.http import AuthenticatedHttpRequest

MAX_ACTIVE_TOKENS = 20


@require_http_methods(["GET", "POST"])
@login_required
@never_cache
def token_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """GET lists the user's tokens; POST makes one and shows it, this once, on the answer to the POST itself.

    The new token is rendered into this one response (never stored, never put in a redirect's URL or the
    session); never_cache keeps it out of the browser's history cache.
    """
    created = None
    error = ""
    if request.method == "POST":
        name = request.POST.get("name", "").strip()
        active = ApiToken.objects.filter(user=request.user, revoked_at__isnull=True).count()
        if not name:
            error = "Give the token a name that says what will use it, e.g. 'SIS reconciliation'."
        elif has_line_breaks_or_controls(name):
            error = "Keep the name to one line of ordinary characters: it held a line break or a control character."
        elif len(name) > 100:
            error = "Keep the name under 100 characters."
        elif active >= MAX_ACTIVE_TOKENS:
            error = f"You already have {active} tokens. Revoke one you no longer use first."
        else:
            created = tokens.create(request.user, name, can_act=request.POST.get("can_act") == "1")
    context = {
        "tokens": ApiToken.objects.filter(user=request.user),
        "created": created,
        "error": error,
        # Given back to correct, with what made it wrong made visible as spaces (a NUL cannot go into the page).
        "name": one_line(request.POST.get("name", "")) if error else "",
    }
    return render(request, "api/tokens.html", context, status=400 if error else 200)


@require_POST
@login_required
def revoke_token(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    if tokens.revoke(request.user, pk):
        messages.success(request, "Token revoked: scripts using it are refused from now on.")
    else:
        messages.error(request, "That token was already revoked, or is not yours.")
    return redirect("api_tokens")
