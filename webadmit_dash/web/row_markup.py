"""The busiest parts of a Recent Files row, written here rather than in files/recent.html.

A page renders fifty rows, and each `{% if %}` or `{{ }}` of a row costs the template engine a few microseconds: the
status cell's marks (as of, stuck, delivered, called back, downloaded, a newer run), the export's format line, the
identity cell, the row's classes, its checkbox and Run again's form were forty tags a row that mostly decided to show
nothing, a sixth of the first page's time. Here they are a few attribute tests and an html_of (shared/markup.py)
each, and the template shows each as one variable. The markup is the template's, unchanged: tests and the stylesheet
read its classes and ids."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from django.utils.safestring import SafeString

from webadmit_dash.shared.markup import html_of
from webadmit_dash.shared.templatetags.display import svg_icon


class FileRow(Protocol):
    """What these cells read of a row: web.listing.FileRow (named apart here, which imports this module)."""

    @property
    def pk(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def format(self) -> str: ...
    @property
    def identity(self) -> str: ...
    @property
    def cycle(self) -> str: ...
    @property
    def identity_title(self) -> str: ...
    @property
    def badge(self) -> SafeString: ...
    @property
    def since(self) -> SafeString: ...
    @property
    def running(self) -> bool: ...
    @property
    def gone(self) -> bool: ...
    @property
    def settled(self) -> str: ...
    @property
    def file_url(self) -> str: ...
    @property
    def export_url(self) -> str: ...
    @property
    def as_of(self) -> SafeString: ...
    @property
    def stuck(self) -> SafeString | str: ...
    @property
    def handover(self) -> str: ...
    @property
    def callback(self) -> SafeString: ...
    @property
    def downloaded(self) -> SafeString | str: ...
    @property
    def newer_run(self) -> SafeString | str: ...
    @property
    def words(self) -> str: ...
    @property
    def zip_urls(self) -> tuple[str, ...]: ...


class RunAgainTarget(Protocol):
    """What Run again's button reads of a run: a FileRow, or the file page's run (web/views/files.py)."""

    @property
    def pk(self) -> int: ...
    @property
    def label(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def run_again_url(self) -> str: ...


_AS_OF = (
    '<span class="file__asof" title="This identity\'s refreshes are failing or late: the status is the last one '
    'read.">as of {as_of}</span>'
)
_SINCE = '<span class="file__since">{running}{since}{as_of}</span>'
_STUCK = (
    '<span class="file__stuck" title="Running far longer than this export\'s runs usually take: WebAdMIT may '
    'have stalled.">Stuck for {stuck}</span>'
)
_DELIVERY_FAILED = (
    '<a class="handover handover--failed" href="{file_url}#trail-heading" title="A destination refused this file for '
    'good: its page says why, and offers Deliver again.">{icon}<span>Delivery failed</span></a>'
)
_DELIVERED = (
    '<span class="handover handover--delivered" title="Delivered, and refused by no destination: the file\'s '
    'page says where and when.">{icon}<span>Delivered</span></span>'
)
_CALLBACK = (
    '<span class="file__callback" id="callback-{pk}" title="This run was started here and WebAdMIT was asked to call '
    'when it is ready: the call makes the dashboard read WebAdMIT at once.">{note}</span>'
)
_DOWNLOADED = '<span class="file__downloaded" id="downloaded-{pk}">{note}</span>'
_NEWER = '<span class="file__newer" id="newer-{pk}">{note}</span>'
_HISTORY = '<a class="file__export-link" href="{url}">History<span class="visually-hidden"> of {name}</span></a>'
_FORMAT_LINE = '<span class="file__format">{format}{separator}{history}</span>'
_CYCLE = '<span class="file__format">{cycle}</span>'
_IDENTITY = '<span class="file__identity-name" title="{title}">{identity}</span>{cycle}'


_SELECT = (
    '<td class="file__select"><input type="checkbox" name="file" value="{pk}" form="bulk-form" data-bulk-row '
    'aria-label="Select {words} ({identity})"></td>'
)
# Run again asks first. Without JavaScript this form leads to the confirmation page (a GET); with it, app.js opens
# the page's dialog (includes/run_again_dialog.html) and, once confirmed, posts by htmx to the same address, with
# this form's `next` and its button disabled while in flight.
_RUN_AGAIN = (
    '<form method="get" action="{url}" class="inline-form" data-run-again data-name="{label}" data-kind="{kind}" '
    'hx-disabled-elt="find button"><input type="hidden" name="next" value="{next}">'
    '<button type="submit" class="btn btn--quiet btn--small" id="rerun-{pk}" aria-haspopup="dialog" '
    'aria-label="Run again: {label}" title="{title} (asks first)">{icon}<span>Run again</span></button></form>'
)
_RUN_AGAIN_TITLES = {
    "export": "Start a new run of this export in WebAdMIT",
    "pdf_batch": "Start a new batch of this template in WebAdMIT",
}


@dataclass(frozen=True)
class RunAgain:
    """A run Run again's button names, where it is not a FileRow (the file page)."""

    pk: int
    label: str
    kind: str
    run_again_url: str


def select_cell(row: FileRow) -> SafeString:
    """The row's checkbox for bulk actions (static/js/bulk.js), named for screen readers."""
    return html_of(_SELECT, pk=row.pk, words=row.words, identity=row.identity_title)


def run_again_form(run: RunAgainTarget, next_path: str) -> SafeString:
    """Run again's button (a finished run's: `run.run_again_url`), coming back to `next_path`."""
    kind = str(run.kind)
    return html_of(
        _RUN_AGAIN,
        url=run.run_again_url,
        label=run.label,
        kind=kind,
        next=next_path,
        pk=run.pk,
        title=_RUN_AGAIN_TITLES[kind],
        icon=svg_icon("i-rerun"),
    )


_ZIP_MENU = (
    '<details class="zips" id="zips-{pk}"><summary class="btn btn--primary">{icon}<span>Download</span>'
    '<span class="visually-hidden"> {words}: {count} zips</span></summary><ul class="zips__list">{items}</ul>'
    "</details>"
)
_ZIP_ITEM = '<li><a href="{url}" id="zip-{pk}-{part}">Zip {part} of {count}</a></li>'


def zip_menu(row: FileRow) -> SafeString | str:
    """A batch of several zips: Download opens a small menu of them ("Zip 2 of 3"), each our own address; one zip
    (or none) is the row's plain Download button."""
    count = len(row.zip_urls)
    if count < 2:
        return ""
    items = "".join(
        html_of(_ZIP_ITEM, url=url, pk=row.pk, part=part, count=count) for part, url in enumerate(row.zip_urls, 1)
    )
    return html_of(
        _ZIP_MENU, pk=row.pk, icon=svg_icon("i-download"), words=row.words, count=count, items=SafeString(items)
    )


def status_cell(row: FileRow) -> SafeString:
    """The badge, "for 12 min" or "3 h ago" (with "as of 14:05" when the identity is stale), then the marks."""
    as_of = html_of(_AS_OF, as_of=row.as_of) if row.as_of else ""
    parts = [row.badge, html_of(_SINCE, running="for " if row.running else "", since=row.since, as_of=as_of)]
    if row.stuck:
        parts.append(html_of(_STUCK, stuck=row.stuck))
    if row.handover == "delivery-failed":
        parts.append(html_of(_DELIVERY_FAILED, file_url=row.file_url, icon=svg_icon("i-alert")))
    elif row.handover == "delivered":
        parts.append(html_of(_DELIVERED, icon=svg_icon("i-check")))
    if row.callback:
        parts.append(html_of(_CALLBACK, pk=row.pk, note=row.callback))
    if row.downloaded:
        parts.append(html_of(_DOWNLOADED, pk=row.pk, note=row.downloaded))
    if row.newer_run:
        parts.append(html_of(_NEWER, pk=row.pk, note=row.newer_run))
    # Every part is safe already (html_of, or the row's own SafeStrings).
    return SafeString("".join(parts))


def format_line(row: FileRow) -> SafeString | str:
    """ "CSV · History": the file's format and a link to its export's history, either alone, or nothing."""
    if not row.format and not row.export_url:
        return ""
    history = html_of(_HISTORY, url=row.export_url, name=row.name) if row.export_url else ""
    separator = " · " if row.format and row.export_url else ""
    return html_of(_FORMAT_LINE, format=row.format, separator=separator, history=history)


def identity_cell(row: FileRow) -> SafeString:
    """The identity's name (cut to one line by the stylesheet, whole on hover) and its cycle beneath."""
    cycle = html_of(_CYCLE, cycle=row.cycle) if row.cycle else ""
    return html_of(_IDENTITY, title=row.identity_title, identity=row.identity, cycle=cycle)


def classes(row: FileRow) -> str:
    """The row's classes: running, gone from WebAdMIT, settled (superseded or acknowledged: muted)."""
    names = ["file"]
    if row.running:
        names.append("file--running")
    if row.gone:
        names.append("file--gone")
    if row.settled:
        names += ["file--settled", f"file--{row.settled}"]
    return " ".join(names)
