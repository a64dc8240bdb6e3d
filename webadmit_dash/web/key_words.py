"""What the admin says after a new API key is saved: the check's outcome (`engine.new_key`) in words an
administrator can act on. Never the key itself."""

from __future__ import annotations

from django.contrib import messages
from django.utils import timezone

from webadmit_dash.engine.new_key import KeyCheck, Outcome
from webadmit_dash.shared.templatetags.display import describe_clock

# Where save_model leaves the credential whose new key is to be checked once the save is committed.
NEW_KEY_ATTRIBUTE = "_webadmit_new_key_credential"

WHY_NOT_CHECKED = {
    "unreachable": "WebAdMIT could not be reached",
    "rate_limited": "WebAdMIT's hourly call limit for this key is used up",
    "unreadable": "WebAdMIT's answer could not be read",
    "refused": "WebAdMIT refused the check",
}


def _identities(count: int) -> str:
    return f"{count} identit{'y' if count == 1 else 'ies'}"


def key_check_words(check: KeyCheck) -> tuple[int, str]:
    """The message level and the sentence for the admin's page."""
    if check.outcome is Outcome.ACCEPTED:
        if check.identities:
            return messages.SUCCESS, f"WebAdMIT accepted the key: {_identities(check.identities)} will refresh again."
        return messages.SUCCESS, "WebAdMIT accepted the key."
    # A 200 whose body could not be read is no code worth saying.
    status = f" ({check.status_code})" if check.status_code and check.status_code >= 400 else ""
    if check.outcome is Outcome.REJECTED:
        if check.identities:
            verb = "stays" if check.identities == 1 else "stay"
            return messages.ERROR, (
                f"WebAdMIT rejected this key{status}: its {_identities(check.identities)} {verb} paused until a "
                "key is accepted. Check the key in WebAdMIT and enter it again."
            )
        return messages.ERROR, f"WebAdMIT rejected this key{status}. Check the key in WebAdMIT and enter it again."
    why = WHY_NOT_CHECKED.get(check.reason, "WebAdMIT could not check the key") + status
    if check.next_try_at is None:
        return messages.WARNING, f"{why}: the key is saved; use Test connection to check it later."
    when = describe_clock(check.next_try_at, timezone.now())
    return messages.WARNING, f"{why}: the key is saved and will be checked again at {when}."
