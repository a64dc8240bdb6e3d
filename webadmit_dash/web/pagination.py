"""Pagination by keyset: pages of the files table continue after (or before) a row, not at an offset.

An offset makes the database count past every row before the page, so a page deep in a list of 100,000 files
would cost as much as reading them all; a keyset page costs the same at any depth.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Case, F, IntegerField, OrderBy, Q, QuerySet, Value, When
from django.http import QueryDict

from webadmit_dash.core.models import ExportFile
from webadmit_dash.web import params, sorting

PAGE_SIZE = 50
# The dashboard order (ExportFile.Meta.ordering, served by file_dashboard_order_idx), with the primary key last
# so that keyset pagination has a total order even when two files share a timestamp and a WebAdMIT id.
ORDER = ("attention_rank", "-first_seen_at", "-webadmit_id", "-id")
REVERSE_ORDER = ("-attention_rank", "first_seen_at", "webadmit_id", "id")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The timestamps a key may carry: any a datetime can hold (the year 1 to 9999).
_MIN_MICROS = (datetime.min.replace(tzinfo=UTC) - EPOCH) // timedelta(microseconds=1)
_MAX_MICROS = (datetime.max.replace(tzinfo=UTC) - EPOCH) // timedelta(microseconds=1)
# A text value of a key (an export's name, a status), in URL-safe base64 without padding: up to an export name's
# 300 characters of up to 4 bytes each.
_BASE64 = re.compile(r"[A-Za-z0-9_-]{0,1600}")


@dataclass(frozen=True)
class SortKey:
    """A file's place in an order (web/sorting.py); pages continue after (or before) one, at any depth in O(page).

    In the default order it is (rank, first seen, WebAdMIT id, pk); in the others, one value per column of the
    order. In a URL, the values joined by dots: times as microseconds since 1970, texts in URL-safe base64, an
    identity by its id.
    """

    values: tuple[int | datetime | str, ...]
    order: sorting.Order = sorting.DEFAULT

    @classmethod
    def of(cls, export_file: ExportFile, order: sorting.Order = sorting.DEFAULT) -> SortKey:
        annotated = vars(export_file)
        values = tuple(
            order.identity_ranks.get(export_file.identity_id, len(order.identity_ranks))
            if column.kind == "identity"
            else annotated[column.name]
            for column in order.columns
        )
        return cls(values, order)

    def encode(self) -> str:
        parts = []
        for column, value in zip(self.order.columns, self.values, strict=True):
            if isinstance(value, datetime):
                parts.append(str((value - EPOCH) // timedelta(microseconds=1)))
            elif isinstance(value, str):
                parts.append(base64.urlsafe_b64encode(value.encode()).decode().rstrip("="))
            elif column.kind == "identity":
                parts.append(str(_identity_at(self.order, value)))
            else:
                parts.append(str(value))
        return ".".join(parts)

    @classmethod
    def decode(cls, raw: str | None, order: sorting.Order = sorting.DEFAULT) -> SortKey | None:
        """The key a page URL carries, or None for anything else (no key: the first page)."""
        parts = (raw or "").split(".")
        if len(parts) != len(order.columns):
            return None
        values = []
        for column, part in zip(order.columns, parts, strict=True):
            value = _decode_value(column, part, order)
            if value is None:
                return None
            values.append(value)
        return cls(tuple(values), order)

    def after(self) -> Q:
        """Files that come after this key in its order."""
        return self._beyond(forward=True)

    def before(self) -> Q:
        """Files that come before this key in its order."""
        return self._beyond(forward=False)

    def _beyond(self, *, forward: bool) -> Q:
        # (a, b, c) after (x, y, z): a after x, or a = x and b after y, or a = x, b = y and c after z. No column of
        # an order is NULL (sorting.py gives every one a value), so these comparisons never meet SQL's NULL.
        condition = Q(pk__in=[])
        equal = Q()
        for column, value in zip(self.order.columns, self.values, strict=True):
            lookup = "lt" if column.descending == forward else "gt"
            condition |= equal & Q(**{f"{column.name}__{lookup}": value})
            equal &= Q(**{column.name: value})
        return condition


def _identity_at(order: sorting.Order, rank: object) -> int:
    """The id of the identity at this place in the identity order (0 past the known ones: files of none)."""
    return next((pk for pk, place in order.identity_ranks.items() if place == rank), 0)


def _decode_value(column: sorting.Column, part: str, order: sorting.Order) -> int | datetime | str | None:
    if column.kind == "time":
        micros = params.whole_number(part, None, minimum=_MIN_MICROS, maximum=_MAX_MICROS)
        return None if micros is None else EPOCH + timedelta(microseconds=micros)
    if column.kind == "text":
        if not _BASE64.fullmatch(part):
            return None
        try:
            return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode()
        except (ValueError, UnicodeDecodeError):
            return None
    if column.kind == "identity":
        pk = params.whole_number(part, None)
        return None if pk is None else order.identity_ranks.get(pk)
    minimum = params.BIGINT_MIN if column.minimum is None else column.minimum
    maximum = params.BIGINT_MAX if column.maximum is None else column.maximum
    return params.whole_number(part, None, minimum=minimum, maximum=maximum)


def _rows_from(
    files: QuerySet[ExportFile],
    key: SortKey | None,
    *,
    forward: bool,
    limit: int,
    order: sorting.Order = sorting.DEFAULT,
) -> list[ExportFile]:
    """Up to `limit` files after `key` (forward) or before it, nearest first, in `order` (`files` come with its
    columns: Order.prepare, as listing.scope lists them)."""
    if order.columns[0].kind == "identity":
        return _identity_rows_from(files, key, forward=forward, limit=limit, order=order)
    if not order.is_default:
        ordered = files.order_by(*order.order_by(reverse=not forward))
        if key is not None:
            # Bounded on the first column too, so that the database can enter an index on it at the key.
            first = order.columns[0]
            bound = "lte" if first.descending == forward else "gte"
            beyond = key.after() if forward else key.before()
            ordered = ordered.filter(Q(**{f"{first.name}__{bound}": key.values[0]}) & beyond)
        return list(ordered[:limit]) if order.indexed else _sorted_apart(files, ordered, limit)
    return _default_rows_from(files, key, forward=forward, limit=limit)


def _sorted_apart(files: QuerySet[ExportFile], ordered: QuerySet[ExportFile], limit: int) -> list[ExportFile]:
    """The first `limit` of `ordered`, for an order no index serves: the database sorts every file the filters keep,
    so it sorts their ids alone, and the page's rows are read by id after. Sorting whole rows, SQLite also worked out
    each one's columns (the joins, whether it was archived or delivered) before it sorted: for every file."""
    pks = list(ordered.values_list("pk", flat=True)[:limit])
    by_pk = files.order_by().in_bulk(pks)
    return [by_pk[pk] for pk in pks if pk in by_pk]


# Identities read per query in the identity order: the first query reads IDENTITY_BATCH of them, each next one twice
# as many, up to IDENTITY_BATCH_MOST. Its rank is a CASE over the identities' ids: over all 500 of a superuser's,
# SQLite compared every one of 100,000 files with each of them (3 s for a page, benchmarks/dashboard.py); over a
# batch, each query reads only the batch's files, through the identity index. A page usually fills from its first
# identities (sorting 20 identities' files for it was most of the page's time); a sparse filter reaches all 500 in
# nine queries.
IDENTITY_BATCH = 1
IDENTITY_BATCH_MOST = 64


def _identity_rows_from(
    files: QuerySet[ExportFile], key: SortKey | None, *, forward: bool, limit: int, order: sorting.Order
) -> list[ExportFile]:
    """Up to `limit` files after `key` (or before it) in the identity order, a batch of identities at a time, each
    batch's files sorted apart (_sorted_apart: only the page's rows are read whole)."""
    ranks = order.identity_ranks
    ascending = order.columns[0].descending != forward  # the way ranks go as the walk goes
    walk = sorted(ranks, key=ranks.__getitem__, reverse=not ascending)
    ties = sorting.Order(order.sort, order.columns[1:])
    within = Q()
    if key is not None:
        rank = key.values[0]
        assert isinstance(rank, int)  # an identity column's value is its rank (SortKey.decode)
        walk = [pk for pk in walk if (ranks[pk] >= rank if ascending else ranks[pk] <= rank)]
        # In the key's own identity, only the files past the key.
        rest = SortKey(key.values[1:], ties)
        within = ~Q(identity_id=_identity_at(order, rank)) | (rest.after() if forward else rest.before())
    rows: list[ExportFile] = []
    start, size = 0, IDENTITY_BATCH
    while start < len(walk):
        batch = walk[start : start + size]
        start, size = start + size, min(size * 2, IDENTITY_BATCH_MOST)
        batch_rank = Case(*(When(identity_id=pk, then=Value(ranks[pk])) for pk in batch), output_field=IntegerField())
        chunk = (
            files.filter(within, identity_id__in=batch)
            .alias(batch_rank=batch_rank)
            .order_by(OrderBy(F("batch_rank"), descending=not ascending), *ties.order_by(reverse=not forward))
        )
        rows += _sorted_apart(files, chunk, limit - len(rows))
        if len(rows) >= limit:
            break
    return rows


def _default_rows_from(
    files: QuerySet[ExportFile], key: SortKey | None, *, forward: bool, limit: int
) -> list[ExportFile]:
    """Up to `limit` files after `key` (forward) or before it, nearest first, in the default order.

    Each query is a range scan of the dashboard-order index: within the key's rank, `first_seen_at` bounds the
    range and the residual condition only settles ties; when that rank runs out, the other rank starts from its
    top. An OR over all four columns would make the database walk the index from the very first row instead.
    """
    order = ORDER if forward else REVERSE_ORDER
    if key is None:
        return list(files.order_by(*order)[:limit])
    rank, seen, webadmit_id, pk = key.values
    if forward:
        same_rank = files.filter(attention_rank=rank, first_seen_at__lte=seen).exclude(
            Q(first_seen_at=seen) & (Q(webadmit_id__gt=webadmit_id) | Q(webadmit_id=webadmit_id, pk__gte=pk))
        )
        other_ranks = files.filter(attention_rank__gt=rank)
    else:
        same_rank = files.filter(attention_rank=rank, first_seen_at__gte=seen).exclude(
            Q(first_seen_at=seen) & (Q(webadmit_id__lt=webadmit_id) | Q(webadmit_id=webadmit_id, pk__lte=pk))
        )
        other_ranks = files.filter(attention_rank__lt=rank)
    rows = list(same_rank.order_by(*order)[:limit])
    if len(rows) < limit:
        rows += list(other_ranks.order_by(*order)[: limit - len(rows)])
    return rows


def rows_after(
    files: QuerySet[ExportFile], key: SortKey | None, limit: int, order: sorting.Order = sorting.DEFAULT
) -> list[ExportFile]:
    """Up to `limit` files after `key` (from the top without one), in `order`: how the CSV export and the API walk
    a whole list in bounded pieces."""
    return _rows_from(files, key, forward=True, limit=limit, order=order)


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


def page(files: QuerySet[ExportFile], query: QueryDict, order: sorting.Order = sorting.DEFAULT) -> Page:
    after = SortKey.decode(params.value(query, "after"), order)
    before = SortKey.decode(params.value(query, "before"), order)
    if after is not None:
        before = None
    start = params.integer(query, "from", 1, minimum=1)
    if before is not None:
        rows = _rows_from(files, before, forward=False, limit=PAGE_SIZE + 1, order=order)
        has_previous = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE][::-1]
        if not has_previous:
            start = 1
        has_next = True
    else:
        rows = _rows_from(files, after, forward=True, limit=PAGE_SIZE + 1, order=order)
        has_next = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        has_previous = after is not None
        if after is None:
            start = 1
    return Page(
        rows=rows,
        start=start,
        next_key=SortKey.of(rows[-1], order) if has_next and rows else None,
        previous_key=SortKey.of(rows[0], order) if has_previous and rows else None,
        is_first=not has_previous,
    )
