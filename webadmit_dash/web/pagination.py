"""Pagination by keyset: pages of the files table continue after (or before) a row, not at an offset.

An offset makes the database count past every row before the page, so a page deep in a list of 100,000 files
would cost as much as reading them all; a keyset page costs the same at any depth.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet

from webadmit_dash.core.models import ExportFile
from webadmit_dash.web import common

PAGE_SIZE = 50
# The dashboard order (ExportFile.Meta.ordering, served by file_dashboard_order_idx), with the primary key last
# so that keyset pagination has a total order even when two files share a timestamp and a WebAdMIT id.
ORDER = ("attention_rank", "-first_seen_at", "-webadmit_id", "-id")
REVERSE_ORDER = ("-attention_rank", "first_seen_at", "webadmit_id", "id")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
        try:
            rank, micros, webadmit_id, pk = (int(part) for part in (raw or "").split("."))
            key = cls(rank, EPOCH + timedelta(microseconds=micros), webadmit_id, pk)
        except (ValueError, OverflowError):
            return None
        # A key comes from a URL: ids past a 64-bit column would fail the query rather than match nothing.
        return key if all(-(2**63) <= value < 2**63 for value in (rank, webadmit_id, pk)) else None

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


def page(files: QuerySet[ExportFile], params: Any) -> Page:
    after = SortKey.decode(params.get("after"))
    before = None if after else SortKey.decode(params.get("before"))
    start = max(common.parse_int(params.get("from"), 1), 1)
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
