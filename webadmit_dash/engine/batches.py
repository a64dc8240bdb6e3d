"""Work on many files at once (the Recent Files bulk bar): whether a batch of interactive calls fits the budget, and
each file's bytes fetched from WebAdMIT one by one.

A batch is a series of ordinary interactive calls (`interactive`): each is counted, limited and audited as one click
would be. What this adds is the question asked *before* the first call: would the whole batch fit what one person
may ask in a minute and what each key's interactive share allows in the hour? A batch that would stop half-way
through is refused whole, saying how many would fit now and when all would.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.utils import timezone

from webadmit_dash.core.models import Credential, ExportFile
from webadmit_dash.engine import credentials, downloads, interactive
from webadmit_dash.engine.models import InteractiveCall
from webadmit_dash.webadmit.download import Download, open_download
from webadmit_dash.webadmit.errors import WebAdmitError


@dataclass(frozen=True)
class Room:
    """Whether `needed` calls fit now; when not, how many would (`fits`) and in how many seconds all would (`wait`,
    None when never: more than a limit allows at all)."""

    needed: int
    fits: int
    wait: float | None = None
    limit_words: str = ""  # which limit binds, in words

    @property
    def enough(self) -> bool:
        return self.fits >= self.needed

    def refusal(self, what: str, ending: str = "Nothing was started.") -> str:
        """ "12 runs would not fit in …", for a page's message; `what` is the batch in words ("12 runs")."""
        start = f"{what[:1].upper()}{what[1:]} would not fit in {self.limit_words}: "
        fits = f"{self.fits} would fit now" if self.fits else "none would fit now"
        if self.wait is None:
            return f"{start}{fits}. Select fewer files. {ending}"
        return f"{start}{fits}, all of them in about {_in_words(self.wait)}. {ending}"


def _in_words(seconds: float) -> str:
    if seconds < 90:
        return f"{math.ceil(seconds)} seconds"
    return f"{math.ceil(seconds / 60)} minutes"


def room(needs: Mapping[Credential, int], user: User, now: datetime | None = None) -> Room:
    """Would `needs[key]` interactive calls with each key fit now, for this person? Counts what `interactive` counts:
    the person's calls of the last minute (every key together) and each key's interactive calls of the last hour."""
    now = now or timezone.now()
    needed = sum(needs.values())
    mine = _made_at(InteractiveCall.objects.filter(user=user, made_at__gt=now - interactive.PER_PERSON_WINDOW))
    per_person = settings.WEBADMIT_INTERACTIVE_PER_MINUTE
    person = _Limit(per_person, mine, interactive.PER_PERSON_WINDOW, f"what one person may ask ({per_person} a minute)")
    fits_by_key = 0
    binding: list[tuple[float | None, str]] = []
    for credential, count in needs.items():
        if not count:
            continue
        share = interactive.interactive_share(credential)
        calls = InteractiveCall.objects.filter(credential=credential, made_at__gt=now - interactive.SHARE_WINDOW)
        words = f"the hourly share of credential “{credential.name}” ({share} downloads and runs an hour)"
        key = _Limit(share, _made_at(calls), interactive.SHARE_WINDOW, words)
        fits_by_key += min(count, key.free)
        if count > key.free:
            binding.append((key.wait_for(count, now), key.words))
    if needed > person.free:
        binding.append((person.wait_for(needed, now), person.words))
    fits = min(person.free, fits_by_key)
    if not binding:
        return Room(needed, needed)
    never = [words for wait, words in binding if wait is None]
    if never:
        return Room(needed, fits, None, never[0])
    wait, words = max(binding, key=lambda pair: pair[0] or 0.0)
    return Room(needed, fits, wait, words)


def _made_at(calls: QuerySet[InteractiveCall]) -> list[datetime]:
    return list(calls.order_by("made_at").values_list("made_at", flat=True))


@dataclass(frozen=True)
class _Limit:
    limit: int
    made_at: list[datetime]  # the calls counted in the window, oldest first
    window: timedelta
    words: str

    @property
    def free(self) -> int:
        return max(self.limit - len(self.made_at), 0)

    def wait_for(self, count: int, now: datetime) -> float | None:
        """Seconds until `count` calls fit (enough of the counted ones left the window); None if they never can."""
        if count > self.limit:
            return None
        leaving = count - self.free  # this many of the oldest must leave the window first
        if leaving <= 0:
            return 0.0
        return max((self.made_at[leaving - 1] + self.window - now).total_seconds(), 1.0)


@dataclass
class Fetched:
    """A file's bytes, fetched from a fresh WebAdMIT link (its headers arrived), or why not (`problem`)."""

    download: Download | None = field(default=None, repr=False)
    problem: str = ""


def fetch(export_file: ExportFile, user: User) -> Fetched:
    """Asks WebAdMIT for a fresh link (an interactive call, counted, limited and audited as a Download click is:
    `downloads.prepare_download`) and opens it at once, within its ~30 s life. The link is never kept: it lives in
    this function until the download is open. The caller reads `download.chunks()` and closes it."""
    attempt = downloads.prepare_download(export_file, user)
    if attempt.url is None:
        return Fetched(problem=attempt.message or attempt.title)
    failure: WebAdmitError | None = None
    try:
        opened = open_download(
            credentials.shared_session(),
            attempt.url,
            connect_timeout=float(settings.WEBADMIT_INTERACTIVE_CONNECT_TIMEOUT),
            read_timeout=float(settings.WEBADMIT_INTERACTIVE_READ_TIMEOUT),
            chunk_size=1 << 16,
        )
    except WebAdmitError as error:
        failure = error
    if failure is not None:
        return Fetched(problem=failure.message)
    return Fetched(download=opened)
