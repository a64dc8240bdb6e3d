"""The error vocabulary, in one table: each kind of WebAdMIT failure, the state it leaves an identity in, the outcome
it gives a download, and the words a person reads about it on a banner or a download page.

The kinds are the WebAdMIT client's (`WebAdmitError.kind`); the engine stores them on identities and download
events, and the pages look their words up here. The client's own message (which call, which HTTP status) is the
detail kept beside the kind, for the admin and the Identities table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from django.db import models


class ErrorKind(models.TextChoices):
    """Why the last call about an identity failed; blank when it did not."""

    NONE = "", "None"
    KEY_REJECTED = "key_rejected", "API key rejected"
    NOT_FOUND = "not_found", "Identity not found"
    RATE_LIMITED = "rate_limited", "Rate limited"
    UNAVAILABLE = "unavailable", "WebAdMIT unavailable"
    BAD_RESPONSE = "bad_response", "Unexpected response"
    REQUEST_REJECTED = "request_rejected", "Request rejected"
    # Not WebAdMIT's: it answered, but storing its answer failed (the database refused it).
    NOT_STORED = "not_stored", "Answer not stored"


@dataclass(frozen=True)
class Words:
    """What a person reads: a title, what happened, and what to do next. `{names}` (the identities affected),
    `{credential}` (its name), `{detail}` (the client's message) and `{next_check}` (when a paused identity is
    checked again: NEXT_CHECK_AT or NEXT_CHECK_SOON) are filled in where the words are shown."""

    title: str
    detail: str
    next_step: str = ""


# A banner's level: "error" needs a person, "warning" passes by itself.
BannerLevel = Literal["error", "warning"]


@dataclass(frozen=True)
class Meaning:
    """What one kind of failure means for an identity, for a download, and for the person reading about it."""

    # Refreshes of the identity stop until WebAdMIT accepts again: retrying the same call soon cannot help. A paused
    # identity (or, for a rejected key, its credential) is checked again by itself, less and less often.
    pauses: bool
    level: BannerLevel
    banner: Words  # about the identities whose refresh failed
    download_status: int  # the HTTP status of a download refused for this reason
    download: Words  # about the one file that could not be downloaded


MEANINGS: dict[ErrorKind, Meaning] = {
    ErrorKind.KEY_REJECTED: Meaning(
        pauses=True,
        level="error",
        banner=Words(
            "WebAdMIT rejected the API key “{credential}”",
            "Files of {names} are not being refreshed.",
            "WebAdMIT is asked again {next_check}; refreshes resume by themselves the moment it accepts the key. "
            "If the key was replaced, an administrator enters the new one (Admin → Credentials).",
        ),
        download_status=502,
        download=Words(
            "WebAdMIT rejected the API key",
            "WebAdMIT rejected the API key for credential “{credential}”, so no download link could be made. "
            "Until an administrator enters a new key, no file of this credential can be downloaded.",
        ),
    ),
    ErrorKind.NOT_FOUND: Meaning(
        pauses=True,
        level="error",
        banner=Words(
            "WebAdMIT no longer knows {these_identities}",
            "WebAdMIT answered that {names} does not exist or has no API Access; this usually happens when an "
            "admissions cycle ends.",
            "WebAdMIT is asked again {next_check}; refreshes resume by themselves if it knows the identity again. "
            "Otherwise ask an administrator to check the user's API Access in WebAdMIT, or to disable the identity "
            "here.",
        ),
        download_status=410,
        download=Words(
            "WebAdMIT no longer has this file",
            "WebAdMIT keeps files for a limited time (about a week) and this one has gone. Run the export again "
            "to get a fresh file.",
        ),
    ),
    ErrorKind.RATE_LIMITED: Meaning(
        pauses=False,
        level="warning",
        banner=Words(
            "WebAdMIT's hourly call limit was reached",
            "Refreshes of {names} are waiting for the limit to reset.",
            "Nothing to do: refreshes resume by themselves, more slowly, within the hour.",
        ),
        download_status=503,
        download=Words(
            "WebAdMIT is busy",
            "WebAdMIT's hourly limit of calls has been reached for this key. Try again in a few minutes.",
        ),
    ),
    ErrorKind.UNAVAILABLE: Meaning(
        pauses=False,
        level="warning",
        banner=Words(
            "WebAdMIT is not answering",
            "The last refresh of {names} could not reach WebAdMIT.",
            "Nothing to do: refreshes keep retrying. Statuses may be out of date until WebAdMIT answers.",
        ),
        download_status=503,
        download=Words(
            "WebAdMIT is not answering",
            "WebAdMIT could not be reached just now, so no download link could be made. Try again in a minute.",
        ),
    ),
    ErrorKind.BAD_RESPONSE: Meaning(
        pauses=False,
        level="warning",
        banner=Words(
            "WebAdMIT sent an answer that could not be used",
            "The last refresh of {names} failed: {detail}",
            "Refreshes keep retrying; if this lasts, tell whoever runs webadmit-dash.",
        ),
        download_status=502,
        download=Words(
            "WebAdMIT sent an unexpected answer",
            "WebAdMIT's answer could not be understood, so no download link could be made. Try again in a minute; "
            "if it keeps happening, tell whoever runs webadmit-dash.",
        ),
    ),
    ErrorKind.REQUEST_REJECTED: Meaning(
        pauses=True,
        level="error",
        banner=Words(
            "WebAdMIT refused the refresh of {names}",
            "WebAdMIT said: {detail}",
            "WebAdMIT is asked again {next_check}; if it keeps refusing, tell whoever runs webadmit-dash.",
        ),
        download_status=502,
        download=Words(
            "WebAdMIT refused the request",
            "WebAdMIT refused to make a download link ({detail}). Tell whoever runs webadmit-dash.",
        ),
    ),
    ErrorKind.NOT_STORED: Meaning(
        pauses=False,
        level="error",
        banner=Words(
            "What WebAdMIT sent about {names} could not be stored",
            "WebAdMIT answered the last refresh, but the database refused to store the answer: {detail}",
            "Refreshes keep retrying, and the other identities are not affected. If this lasts, tell whoever runs "
            "webadmit-dash (the worker's log has the details).",
        ),
        # A download never stores WebAdMIT's answer, so no download ends this way; the table wants words anyway.
        download_status=500,
        download=Words(
            "WebAdMIT's answer could not be stored",
            "WebAdMIT answered, but its answer could not be stored. Try again in a minute; if it keeps happening, "
            "tell whoever runs webadmit-dash.",
        ),
    ),
}

# {next_check} on a paused identity's banner.
NEXT_CHECK_AT = "at {time}"
NEXT_CHECK_SOON = "in a moment"

# Why Download or Run again was answered without asking WebAdMIT (these calls hold a web server thread, so they do
# not wait on a WebAdMIT that is known not to answer). Downloads show the table's download words for the kind.
HELD_BACK: dict[ErrorKind, str] = {
    ErrorKind.UNAVAILABLE: (
        "WebAdMIT did not answer for credential “{credential}” a moment ago, so it was not asked again yet. "
        "Try again in a minute."
    ),
    ErrorKind.KEY_REJECTED: (
        "WebAdMIT rejected the API key of credential “{credential}”, so nothing can be asked with it until WebAdMIT "
        "accepts it again (it is checked by itself)."
    ),
    ErrorKind.RATE_LIMITED: (
        "WebAdMIT's hourly call limit for credential “{credential}” has been reached. Try again in a few minutes."
    ),
}
# No call was made because this web server process already has as many as it allows waiting on WebAdMIT.
BUSY = Words(
    "WebAdMIT is busy",
    "Other requests to WebAdMIT are already waiting for an answer, so this one was not sent, to keep the pages "
    "quick. Try again in a moment.",
)

# No call was made because the person, or everyone together on the key, asked for too many (engine.interactive):
# interactive calls spend the hourly budget that refreshes everyone's files.
TOO_MANY_FOR_ONE = Words(
    "Too many requests",
    "You have asked WebAdMIT for {limit} downloads or runs in the last minute, as many as one person may, so that "
    "no one person (or script) can use up the calls everyone shares. Try again in {seconds} seconds.",
)
SHARE_SPENT = Words(
    "Downloads are paused for this key",
    "Downloads and runs with credential “{credential}” have used their share of WebAdMIT's hourly call limit "
    "({limit} calls an hour); the rest is kept for refreshing everyone's files. Try again in {minutes} minutes.",
)

# What a Download click ended in: the three outcomes that are not a failed WebAdMIT call, then one per error kind
# (same value, the download page's title as its label), so the table above is the only list of kinds.
DownloadOutcome = models.TextChoices(  # type: ignore[call-overload]  # django-stubs types only the class form
    "DownloadOutcome",
    [
        ("REDIRECTED", ("redirected", "Redirected to the file")),
        ("NOT_DOWNLOADABLE", ("not_downloadable", "File not downloadable")),
        ("UNSAFE_URL", ("unsafe_url", "Download address refused")),
        # Downloads of collected files, served from the archive without asking WebAdMIT.
        ("FROM_ARCHIVE", ("from_archive", "Served from the archive")),
        ("ARCHIVE_TAMPERED", ("archive_tampered", "Archived copy failed its check")),
        *((kind.name, (kind.value, meaning.download.title)) for kind, meaning in MEANINGS.items()),
    ],
)
# The outcomes in which someone got the file: "downloaded by Maria 09:02" counts these only, never a refused or
# expired download.
DOWNLOADED: tuple[str, ...] = (DownloadOutcome.REDIRECTED, DownloadOutcome.FROM_ARCHIVE)


def kind_of(error_kind: str) -> ErrorKind:
    """The stored kind for a client error's `kind`; anything this table does not know is an unexpected response."""
    return ErrorKind(error_kind) if error_kind and error_kind in ErrorKind.values else ErrorKind.BAD_RESPONSE


def meaning(kind: str) -> Meaning:
    return MEANINGS[kind_of(kind)]
