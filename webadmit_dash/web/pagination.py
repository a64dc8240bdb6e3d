"""Pagination by keyset: pages of the files table continue after (or before) a row, not at an offset.

An offset makes the database count past every row before the page, so a page deep in a list of 100,000 files
would cost as much as reading them all; a keyset page costs the same at any depth.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Q, QuerySet
from django.http import QueryDict

from webadmit_dash.core.models import ExportFile
from webadmit_dash.web import params

PAGE_SIZE = 50
# The dashboard order (ExportFile.Meta.ordering, served by file_dashboard_order_idx), with the primary key last
# so that keyset pagination has a total order even when two files share a timestamp and a WebAdMIT id.
ORDER = ("attention_rank", "-first_seen_at", "-webadmit_id", "-id")
REVERSE_ORDER = ("-attention_rank", "first_seen_at", "webadmit_id", "id")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The timestamps a key may carry: any a datetime can hold (the year 1 to 9999).
_MIN_MICROS = (datetime.min.replace(tzinfo=UTC) - EPOCH) // timedelta(microseconds=1)
_MAX_MICROS = (datetime.max.replace(tzinfo=UTC) - EPOCH) // timedelta(microseconds=1)


@dataclass(frozen=True)
class SortKey:
    """A file's place in the dashboard order; pages continue after (or before) one, at any depth in O(page)."""

    rank: int
    seen: datetime
    webadmit_id: int
    pk: int

    @classmethod
    def of(cls, export_file: ExportFile) -> SortKey:
        return cls(export_file.attention_rank, export_file.first_seen_at, export_file.webadmit_id, export_file.pk)

    def encode(self) -> str:
        micros = (self.seen - EPOCH) // timedelta(microseconds=1)
        return f"{self.rank}.{micros}.{self.webadmit_id}.{self.pk}"

    @classmethod
    def decode(cls, raw: str | None) -> SortKey | None:
        """The key a page URL carries, or None for anything else (no key: the first page)."""
        parts = (raw or "").split(".")
        if len(parts) != 4:
            return None
        rank = params.whole_number(parts[0], None, minimum=0, maximum=1)
        micros = params.whole_number(parts[1], None, minimum=_MIN_MICROS, maximum=_MAX_MICROS)
        webadmit_id = params.whole_number(parts[2], None)
        pk = params.whole_number(parts[3], None)
        if rank is None or micros is None or webadmit_id is None or pk is None:
            return None
        return cls(rank, EPOCH + timedelta(microseconds=micros), webadmit_id, pk)

    def after(self) -> Q:
        """Files that come after this key in the dashboard order."""
        later_same_time = Q(webadmit_id__lt=self.webadmit_id) | Q(webadmit_id=self.webadmit_id, pk__lt=self.pk)
        same_rank = Q(first_seen_at__lt=self.seen) | Q(first_seen_at=self.seen) & later_same_time
        return Q(attention_rank__gt=self.rank) | Q(attention_rank=self.rank) & same_rank


def _rows_from(files: QuerySet[ExportFile], key: SortKey | None, *, forward: bool, limit: int) -> list[ExportFile]:
    """Up to `limit` files after `key` (forward) or before it, nearest first.

    Each query is a range scan of the dashboard-order index: within the key's rank, `first_seen_at` bounds the
    range and the residual condition only settles ties; when that rank runs out, the other rank starts from its
    top. An OR over all four columns would make the database walk the index from the very first row instead.
    """
    order = ORDER if forward else REVERSE_ORDER
    if key is None:
        return list(files.order_by(*order)[:limit])
    if forward:
        same_rank = files.filter(attention_rank=key.rank, first_seen_at__lte=key.seen).exclude(
            Q(first_seen_at=key.seen)
            & (Q(webadmit_id__gt=key.webadmit_id) | Q(webadmit_id=key.webadmit_id, pk__gte=key.pk))
        )
        other_ranks = files.filter(attention_rank__gt=key.rank)
    else:
        same_rank = files.filter(attention_rank=key.rank, first_seen_at__gte=key.seen).exclude(
            Q(first_seen_at=key.seen)
            & (Q(webadmit_id__lt=key.webadmit_id) | Q(webadmit_id=key.webadmit_id, pk__lte=key.pk))
        )
        other_ranks = files.filter(attention_rank__lt=key.rank)
    rows = list(same_rank.order_by(*order)[:limit])
    if len(rows) < limit:
        rows += list(other_ranks.order_by(*order)[: limit - len(rows)])
    return rows


def rows_after(files: QuerySet[ExportFile], key: SortKey | None, limit: int) -> list[ExportFile]:
    """Up to `limit` files after `key` (from the top without one), in the dashboard order: how the CSV export and
    the API walk a whole list in bounded pieces."""
    return _rows_from(files, key, forward=True, limit=limit)


@dataclass
class Page:
    rows: list[ExportFile]
    start: int  # 1-based position of the first row, for "51-100 of 2,340" (carried in the URL, display only)
    next_key: SortKey | None
    previous_key: SortKey | None
    is_first: bool

    @property
    def end(self) -> int:
        return self.start + len(self.rows) - 1


def page(files: QuerySet[ExportFile], query: QueryDict) -> Page:
    after = SortKey.decode(params.value(query, "after"))
    before = SortKey.decode(params.value(query, "before"))
    if after is not None:
        before = None
    start = params.integer(query, "from", 1, minimum=1)
    if before is not None:
        rows = _rows_from(files, before, forward=False, limit=PAGE_SIZE + 1)
        has_previous = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE][::-1]
        if not has_previous:
            start = 1
        has_next = True
    else:
        rows = _rows_from(files, after, forward=True, limit=PAGE_SIZE + 1)
        has_next = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        has_previous = after is not None
        if after is None:
            start = 1
    return Page(
        rows=rows,
        start=start,
        next_key=SortKey.of(rows[-1]) if has_next and rows else None,
        previous_key=SortKey.of(rows[0]) if has_previous and rows else None,
        is_first=not has_previous,
    )
