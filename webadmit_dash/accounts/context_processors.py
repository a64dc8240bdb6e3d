from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def sign_in(request: HttpRequest) -> dict[str, bool]:
    """What the sign-in page offers: the campus sign-in button, the password form, or both."""
    return {"oidc_enabled": settings.OIDC_ENABLED, "local_passwords": settings.LOCAL_PASSWORDS}
