"""Which WebAdMIT base URLs a credential may point at, and which API keys it may hold."""

import ipaddress
import re
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

LOOPBACK_NAMES = {"localhost"}


def is_loopback_host(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_allowed_webadmit_host(host: str) -> bool:
    return any(host == allowed or host.endswith("." + allowed) for allowed in settings.WEBADMIT_ALLOWED_HOSTS)


def validate_webadmit_base_url(value: str) -> None:
    """Accepts https on an allowed WebAdMIT host (api., prelaunch., an organisation's domain).

    The API key travels in a header on every call, so a typo'd or hostile base URL would hand it to someone
    else: only hosts the operator listed in WEBADMIT_ALLOWED_HOSTS are accepted, and plain http only for
    loopback (the bundled simulator) when WEBADMIT_ALLOW_LOOPBACK is on.
    """
    try:
        parts = urlsplit(value)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise ValidationError("This is not a valid URL.", code="invalid") from None
    if not host or parts.scheme not in {"http", "https"}:
        raise ValidationError("Enter a full URL such as https://api.webadmit.org.", code="invalid")
    if parts.username or parts.password or parts.query or parts.fragment or parts.path.strip("/"):
        raise ValidationError(
            "Enter only the WebAdMIT address, such as https://api.webadmit.org, with no path or query.",
            code="invalid",
        )
    if is_loopback_host(host):
        if settings.WEBADMIT_ALLOW_LOOPBACK:
            return
        raise ValidationError(
            "Loopback addresses are only allowed for local testing (set WEBADMIT_ALLOW_LOOPBACK=true).",
            code="loopback",
        )
    if parts.scheme != "https":
        raise ValidationError("WebAdMIT must be reached over https:// so the API key stays private.", code="https")
    if not _is_allowed_webadmit_host(host):
        allowed = ", ".join(settings.WEBADMIT_ALLOWED_HOSTS)
        raise ValidationError(
            f"{host} is not a WebAdMIT host this installation allows ({allowed} and their subdomains; "
            "see WEBADMIT_ALLOWED_HOSTS).",
            code="host",
        )


def normalise_base_url(value: str) -> str:
    return value.strip().rstrip("/")


# What WebAdMIT issues: the documented key is 32 hexadecimal digits; anything it could issue travels in the
# x-api-key header, so printable ASCII without spaces, 16 to 128 characters, is accepted and nothing else.
API_KEY_MIN, API_KEY_MAX = 16, 128
_API_KEY = re.compile(r"[\x21-\x7e]+")


def validate_api_key(value: str) -> None:
    """Refuses what cannot be a WebAdMIT API key, saying why without repeating the key (a secret)."""
    if not API_KEY_MIN <= len(value) <= API_KEY_MAX:
        raise ValidationError(
            f"A WebAdMIT API key has {API_KEY_MIN} to {API_KEY_MAX} characters (the one WebAdMIT shows has 32); "
            f"this one has {len(value)}. Copy it again from WebAdMIT.",
            code="api_key_length",
        )
    if not _API_KEY.fullmatch(value):
        raise ValidationError(
            "A WebAdMIT API key has only letters, digits and keyboard punctuation (printable ASCII), with no "
            "spaces or other characters; this one has something else. Copy it again from WebAdMIT.",
            code="api_key_characters",
        )
