"""What a notification says, in words: the headline ("Ready: Nightly Banner Export · SOPHAS 2026 \N{EN DASH} 2027"), one
sentence about what happened, and the dashboard link. Shared by the e-mail and the webhook bodies.

Nothing here ever says a download address, an API key or what is in a file: a message links to the dashboard's row
(behind sign-in), and the file is fetched from there.

Names come from WebAdMIT (or an administrator) and are free text: each is put on one line, and cut, before it is told,
so a line break in an export's name can never reach a mail header or split a webhook's title.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse

from webadmit_dash.core.models import Kind, UserIdentity
from webadmit_dash.core.text import one_line
from webadmit_dash.notifications.models import Event, EventKind

# A name longer than this is cut with an ellipsis in what is told (the event keeps it whole); a headline too, as it
# becomes a mail subject.
NAME_MAX = 200
HEADLINE_MAX = 250
EN_DASH = "\N{EN DASH}"  # "2026 - 2027" reads as a range: 2026 \N{EN DASH} 2027
HEADLINE = {
    EventKind.AVAILABLE: "Ready",
    EventKind.SUCCESS_WITH_ERRORS: "Ready with errors",
    EventKind.EMPTY_LIST: "Empty list",
    EventKind.FAILED: "Failed",
    EventKind.STUCK: "Stuck",
}
# A credential event's `status` is the problem (CredentialAlert.Kind).
CREDENTIAL_HEADLINE = {"key_rejected": "Key rejected", "unreachable": "WebAdMIT unreachable"}
# The end of one (Event.all_clear).
ALL_CLEAR_HEADLINE = {"key_rejected": "Key accepted again", "unreachable": "WebAdMIT answering again"}
SENTENCE = {
    EventKind.AVAILABLE: "The run finished and its file is ready to download on the dashboard.",
    EventKind.SUCCESS_WITH_ERRORS: (
        "The run finished and its file is ready, but WebAdMIT reported errors while generating it."
    ),
    EventKind.EMPTY_LIST: "The run finished, but the list matched no applicants, so there is no file.",
    EventKind.FAILED: "WebAdMIT could not generate the file. Run the export again from the dashboard.",
    EventKind.STUCK: "The run has not finished for much longer than this export's runs usually take.",
}

# The same events of a PDF Manager batch (core's Kind): it has zips, not a file, and a template, not an export.
BATCH_SENTENCE = {
    EventKind.AVAILABLE: "is ready: its zips can be downloaded on the dashboard.",
    EventKind.SUCCESS_WITH_ERRORS: "is ready, but WebAdMIT reported errors while making it.",
    EventKind.EMPTY_LIST: "finished, but the template's list matched no applicants, so it has no documents.",
    EventKind.FAILED: "failed: WebAdMIT could not make it. Run it again from the dashboard.",
    EventKind.STUCK: "has not finished for much longer than this template's batches usually take.",
}


def identity_short_name(identity: UserIdentity) -> str:
    """ "SOPHAS 2026 \N{EN DASH} 2027": the CAS and cycle, as staff say them (or the label an administrator gave)."""
    if identity.label:
        return identity.label
    name = identity.association or identity.organization or identity.institution or f"Identity {identity.webadmit_id}"
    cycle = identity.cycle.replace(" - ", f" {EN_DASH} ")
    return f"{name} {cycle}".strip()


def absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def file_link(event: Event) -> str:
    """The file's own page (its timeline, Download and Run again), behind sign-in; once the file has been pruned,
    its row on Recent Files found by its WebAdMIT id, expired ones included, which says it is no longer there."""
    if event.export_file_id:
        return absolute(reverse("file_detail", args=[event.export_file_id]))
    query = urlencode({"q": event.file_webadmit_id, "expired": 1})
    return absolute(f"{reverse('recent_files')}?{query}")


@dataclass(frozen=True)
class Told:
    """One event as a person reads it."""

    headline: str
    sentence: str
    link: str
    link_text: str


def one_line_name(value: str) -> str:
    """A name as a message tells it: on one line, cut to NAME_MAX."""
    return one_line(value, NAME_MAX)


def _of_a_batch(event: Event) -> bool:
    """Whether the event's file is a PDF Manager batch (an event of a pruned row is told as a file's)."""
    return event.export_file_id is not None and event.export_file is not None and event.export_file.is_batch


def tell(event: Event, identity_names: list[str] | None = None) -> Told:
    """The words for one event; for a credential problem, `identity_names` are the affected identities the
    recipient may see (they hear of no other)."""
    kind = EventKind(event.kind)
    if kind is EventKind.CREDENTIAL:
        names = [one_line_name(each) for each in identity_names or []]
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        affected = "Back to normal" if event.all_clear else "Affected"
        sentence = f"{event.detail} {affected}: {shown}." if shown else event.detail
        headlines = ALL_CLEAR_HEADLINE if event.all_clear else CREDENTIAL_HEADLINE
        problem = headlines.get(event.status, "Credential problem solved" if event.all_clear else "Credential problem")
        credential = one_line_name(event.credential.name) if event.credential else ""
        return Told(
            one_line(f"{problem}: {credential}", HEADLINE_MAX),
            sentence,
            absolute(reverse("identities")),
            "See the identities on the dashboard",
        )
    export_name, identity_name = one_line_name(event.export_name), one_line_name(event.identity_name)
    what = f"“{export_name}” (file {event.file_webadmit_id}) for {identity_name}"
    if kind is EventKind.DELIVERY_FAILED:
        destination = one_line_name(event.destination_name)
        return Told(
            one_line(f"Delivery failed: {export_name} to {destination}", HEADLINE_MAX),
            f"{what} could not be delivered to {destination}: {event.detail.rstrip('.')}. "
            "Once the cause is fixed, use Deliver again on the file's page.",
            file_link(event),
            "Open the file on the dashboard",
        )
    if kind in (EventKind.MISSING, EventKind.ARRIVED_LATE):
        # The watchdog's words are whole ("Nightly Banner Export: expected by 07:00, nothing yet").
        headline = "Missing" if kind is EventKind.MISSING else "Arrived late"
        if kind is EventKind.MISSING:
            return Told(
                one_line(f"{headline}: {export_name} · {identity_name}", HEADLINE_MAX),
                f"{one_line(event.detail, 1000)}. Check the run in WebAdMIT, or start one with Run again.",
                absolute(reverse("schedules:list")),
                "See the expected files on the dashboard",
            )
        return Told(
            one_line(f"{headline}: {export_name} · {identity_name}", HEADLINE_MAX),
            f"{one_line(event.detail, 1000)}.",
            file_link(event),
            "Open the file on the dashboard",
        )
    if kind in BATCH_SENTENCE and _of_a_batch(event):
        label = Kind.PDF_BATCH.label
        return Told(
            one_line(f"{HEADLINE[kind]}: {label} {export_name} · {identity_name}", HEADLINE_MAX),
            f"{label} “{export_name}” (batch {event.file_webadmit_id}) for {identity_name} "
            f"{BATCH_SENTENCE[kind]} {event.detail}".strip(),
            file_link(event),
            "Open it on the dashboard",
        )
    sentence = f"{SENTENCE[kind]} {event.detail}".strip()
    return Told(
        one_line(f"{HEADLINE[kind]}: {export_name} · {identity_name}", HEADLINE_MAX),
        f"{what}: {sentence[0].lower()}{sentence[1:]}",
        file_link(event),
        "Open it on the dashboard",
    )
