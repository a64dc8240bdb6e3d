from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from webadmit_dash.accounts.campus import REFUSAL_ATTRIBUTE


def sign_in(request: HttpRequest) -> dict[str, object]:
    """What the sign-in page offers (the campus sign-in button, the password form, or both), and why a campus
    sign-in made with this very request was refused (a proxy's header is re-read on every request)."""
    return {
        "oidc_enabled": settings.OIDC_ENABLED,
        "local_passwords": settings.LOCAL_PASSWORDS,
        "campus_refusal": getattr(request, REFUSAL_ATTRIBUTE, ""),
    }
