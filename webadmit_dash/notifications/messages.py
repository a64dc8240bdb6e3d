"""The messages themselves: an e-mail (plain text and simple HTML, with one-click unsubscribe) for one event or a
digest of several, and a webhook's JSON body (generic, Slack-compatible or Teams-compatible)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import User
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse

from webadmit_dash.notifications.models import Event, Webhook
from webadmit_dash.notifications.words import Told, absolute, tell

UNSUBSCRIBE_SALT = "webadmit_dash.notifications.unsubscribe"
# Slack reads "<...>" as a mention or a link (<!channel>, <https://x|click>): its own rule is to escape these three.
_SLACK_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# What starts markup in a Teams card's markdown (emphasis, links, headings, quotes, code, tags), escaped with a
# backslash as Markdown does.
_TEAMS_MARKUP = re.compile(r"([\\`*_\[\]()#<>~|])")


def unsubscribe_token(user_id: int, subscription_ids: Sequence[int]) -> str:
    """Signed with the site's secret key, no expiry: a link in last year's mail still works, and cannot be forged."""
    return signing.dumps({"u": user_id, "s": sorted(set(subscription_ids))}, salt=UNSUBSCRIBE_SALT, compress=True)


def read_unsubscribe_token(token: str) -> tuple[int, list[int]] | None:
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
        return int(data["u"]), [int(pk) for pk in data["s"]]
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


def unsubscribe_url(user_id: int, subscription_ids: Sequence[int]) -> str:
    return absolute(reverse("notifications:unsubscribe", args=[unsubscribe_token(user_id, subscription_ids)]))


def _message_id(parts: Sequence[str]) -> str:
    """The same Message-ID for every attempt at the same message, so a mail system that got it once can drop a
    repeat (the one duplicate no outbox can rule out: the server took it, then we died before noting so)."""
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]
    host = urlsplit(settings.SITE_URL).hostname or "localhost"
    return f"<{digest}@{host}>"


def event_mail(
    user: User, items: Sequence[tuple[Event, list[str]]], subscription_ids: Sequence[int], keys: Sequence[str]
) -> EmailMultiAlternatives:
    """One e-mail: a single event, or a digest when there are several. Each item is an event and, for a credential
    problem, the names of the affected identities this user may see."""
    told: list[Told] = [tell(event, names) for event, names in items]
    digest = len(told) > 1
    subject = f"{len(told)} notifications from webadmit-dash" if digest else told[0].headline
    # No subscription: an administrator's copy of a failed delivery, which no unsubscribe link could stop.
    administrator = not subscription_ids
    context = {
        "user": user,
        "told": told,
        "digest": digest,
        "subject": subject,
        "administrator": administrator,
        "settings_url": absolute(reverse("notifications:page")),
        "unsubscribe_url": "" if administrator else unsubscribe_url(user.pk, subscription_ids),
    }
    headers = {"Message-ID": _message_id(keys), "Auto-Submitted": "auto-generated"}
    if not administrator:
        headers["List-Unsubscribe"] = f"<{context['unsubscribe_url']}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("notifications/mail/message.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
        headers=headers,
    )
    message.attach_alternative(render_to_string("notifications/mail/message.html", context), "text/html")
    return message


def test_mail(user: User) -> EmailMultiAlternatives:
    context = {"user": user, "settings_url": absolute(reverse("notifications:page"))}
    message = EmailMultiAlternatives(
        subject="Test message from webadmit-dash",
        body=render_to_string("notifications/mail/test.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
        headers={"Auto-Submitted": "auto-generated"},
    )
    return message


def event_type(event: Event) -> str:
    if event.kind not in {"credential"}:
        return f"file.{event.kind}"
    # "credential.key_rejected", and its end "credential.key_rejected.all_clear".
    return f"credential.{event.status}.all_clear" if event.all_clear else f"credential.{event.status}"


def webhook_body(webhook: Webhook, event: Event, names: list[str], *, sent_at: datetime) -> bytes:
    told = tell(event, names)
    payload: dict[str, Any]
    if webhook.kind == Webhook.Kind.SLACK:
        payload = _slack_message(told)
    elif webhook.kind == Webhook.Kind.TEAMS:
        payload = _teams_card(told)
    else:
        payload = {
            "type": event_type(event),
            "event_id": event.key,
            "occurred_at": event.occurred_at.isoformat(),
            "sent_at": sent_at.isoformat(),
            "title": told.headline,
            "text": told.sentence,
            "url": told.link,
        }
        if event.file_webadmit_id is not None:
            payload["file"] = {
                "webadmit_id": event.file_webadmit_id,
                "export_name": event.export_name,
                "status": event.status,
                "identity": event.identity_name,
            }
        if event.destination_name:
            payload["delivery"] = {"destination": event.destination_name, "reason": event.detail}
        else:
            payload["identities"] = names
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def test_webhook_body(webhook: Webhook, *, sent_at: datetime) -> bytes:
    told = Told(
        "Test message from webadmit-dash",
        "An administrator sent this to check the webhook. Nothing happened to any file.",
        absolute(reverse("recent_files")),
        "Open the dashboard",
    )
    if webhook.kind == Webhook.Kind.SLACK:
        payload: dict[str, Any] = _slack_message(told)
    elif webhook.kind == Webhook.Kind.TEAMS:
        payload = _teams_card(told)
    else:
        payload = {"type": "test", "sent_at": sent_at.isoformat(), "title": told.headline, "text": told.sentence}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def slack_text(text: str) -> str:
    """Text shown literally in a Slack message: a name holding <!channel> or <https://x|click> stays words."""
    return text.translate(_SLACK_ESCAPES)


def teams_text(text: str) -> str:
    """Text shown literally in a Teams card's markdown: a name holding [x](https://…) or **bold** stays words."""
    return _TEAMS_MARKUP.sub(r"\\\1", text)


def _slack_message(told: Told) -> dict[str, Any]:
    headline, sentence, link_text = (slack_text(text) for text in (told.headline, told.sentence, told.link_text))
    return {"text": f"*{headline}*\n{sentence}\n<{told.link}|{link_text}>"}


def _teams_card(told: Told) -> dict[str, Any]:
    """An Adaptive Card message, as Teams' Workflows ("When a Teams webhook request is received") accept it; its
    text blocks are markdown, the action's title plain text."""
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "content": {
                    "type": "AdaptiveCard",
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "version": "1.4",
                    "body": [
                        {"type": "TextBlock", "text": teams_text(told.headline), "weight": "Bolder", "wrap": True},
                        {"type": "TextBlock", "text": teams_text(told.sentence), "wrap": True},
                    ],
                    "actions": [{"type": "Action.OpenUrl", "title": told.link_text, "url": told.link}],
                },
            }
        ],
    }
