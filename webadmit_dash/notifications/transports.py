"""The two ways out: SMTP (through Django's e-mail backend) and webhooks (HTTPS POST). One error type says whether
trying again can help: a refused address or a 4xx answer is permanent; a server down, a timeout or a 5xx is not.

Error messages name the mail server's answer or the webhook's host and status, never its address (a Slack or Teams
webhook address is itself a secret) nor anything from the message.
"""

from __future__ import annotations

import hashlib
import hmac
import smtplib
from importlib.metadata import PackageNotFoundError, version

import requests
from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend

from webadmit_dash.notifications import destinations
from webadmit_dash.notifications.models import Webhook

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
SIGNATURE_HEADER = "X-Webadmit-Signature-256"
# Worth another try: the receiver timed out, is rate limiting, or asks for a retry.
TRANSIENT_HTTP = {408, 425, 429}


def _user_agent() -> str:
    try:
        return f"webadmit-dash/{version('webadmit-dash')}"
    except PackageNotFoundError:
        return "webadmit-dash"


class DeliveryError(Exception):
    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: HMAC-SHA256 of the exact body with the webhook's secret, as GitHub does."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def post_webhook(
    webhook: Webhook, body: bytes, *, delivery_id: str, event_type: str, session: requests.Session | None = None
) -> int:
    """POSTs one JSON body, only ever to a checked address (see `destinations`); returns the HTTP status, or raises
    DeliveryError."""
    if session is None:
        with destinations.session() as own:
            return post_webhook(webhook, body, delivery_id=delivery_id, event_type=event_type, session=own)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": _user_agent(),
        "X-Webadmit-Event": event_type,
        # The same for every attempt at one delivery: a receiver can drop a repeat.
        "X-Webadmit-Delivery": delivery_id,
    }
    if webhook.secret_encrypted:  # Slack and Teams webhooks may have none: they check no signature
        headers[SIGNATURE_HEADER] = sign(webhook.get_secret(), body)
    try:
        response = session.post(
            webhook.get_url(),
            data=body,
            headers=headers,
            timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
            allow_redirects=False,  # a redirect could carry the signed body to another host
        )
    except destinations.RefusedDestination as refused:
        # Permanent: the address is refused the same way until an administrator changes it or allows the host.
        raise DeliveryError(refused.message, permanent=True) from None
    except requests.Timeout:
        raise DeliveryError(f"{webhook.url_host} did not answer within {READ_TIMEOUT:.0f} s", permanent=False) from None
    except requests.RequestException as error:
        raise DeliveryError(f"could not reach {webhook.url_host} ({type(error).__name__})", permanent=False) from None
    status = response.status_code
    if 200 <= status < 300:
        return status
    if status == 410:
        raise DeliveryError(f"{webhook.url_host} answered 410 Gone: the webhook no longer exists", permanent=True)
    if 300 <= status < 400:
        raise DeliveryError(
            f"{webhook.url_host} answered {status} (a redirect, not followed): correct the webhook's address",
            permanent=True,
        )
    if status in TRANSIENT_HTTP or status >= 500:
        raise DeliveryError(f"{webhook.url_host} answered {status}", permanent=False)
    raise DeliveryError(f"{webhook.url_host} refused the message with {status}", permanent=True)


def open_connection(connection: BaseEmailBackend) -> None:
    try:
        connection.open()
    except smtplib.SMTPAuthenticationError as error:
        raise DeliveryError(f"the mail server refused our sign-in ({error.smtp_code})", permanent=False) from None
    except (smtplib.SMTPException, OSError) as error:
        raise DeliveryError(f"the mail server could not be reached ({type(error).__name__})", permanent=False) from None


def send_mail(connection: BaseEmailBackend, message: EmailMessage) -> None:
    """Sends one message over an open connection, or raises DeliveryError (the connection is then closed)."""
    try:
        connection.send_messages([message])
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        answer = "; ".join(f"{code} {text.decode(errors='replace')}" for code, text in error.recipients.values())
        raise DeliveryError(
            f"the mail server refused the address: {answer}", permanent=all(code >= 500 for code in codes)
        ) from None
    except smtplib.SMTPAuthenticationError as error:
        connection.close()
        # Not the message's fault: it goes once EMAIL_HOST_USER / EMAIL_HOST_PASSWORD are put right.
        raise DeliveryError(f"the mail server refused our sign-in ({error.smtp_code})", permanent=False) from None
    except smtplib.SMTPResponseException as error:
        connection.close()
        text = error.smtp_error.decode(errors="replace") if isinstance(error.smtp_error, bytes) else error.smtp_error
        raise DeliveryError(
            f"the mail server answered {error.smtp_code} {text}", permanent=error.smtp_code >= 500
        ) from None
    except (smtplib.SMTPException, OSError) as error:
        connection.close()
        raise DeliveryError(f"the mail server could not be reached ({type(error).__name__})", permanent=False) from None
