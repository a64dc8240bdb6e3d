"""SQLite's plan for the Recent Files rows: each indexed order (web/sorting.py) read down its own index, with or
without a date range (web/query_hints.py), not the range's index and a sort of every file in the range. PostgreSQL
plans by its statistics and is given no hint."""

from __future__ import annotations

import pytest
from django.db import connection
from django.http import QueryDict

from tests.support.factories import make_file
from webadmit_dash.core.models import UserIdentity
from webadmit_dash.web.listing import FEW_IDENTITIES, scope_for
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def many_identities(credential) -> list[UserIdentity]:
    """More identities than the list reads by identity (listing.FEW_IDENTITIES): an office's superuser."""
    return UserIdentity.objects.bulk_create(
        UserIdentity(credential=credential, webadmit_id=9000 + n, type="Admissions User", cycle="2026 - 2027")
        for n in range(FEW_IDENTITIES + 1)
    )


def _plan(user, query: str) -> str:
    scope = scope_for(user, QueryDict(query))
    rows = scope.listed.order_by(*scope.order.order_by())[:51]
    sql, params = rows.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        return "\n".join(str(step[-1]) for step in cursor.fetchall())


@pytest.mark.skipif(connection.vendor != "sqlite", reason="a hint for SQLite's planner, which has no statistics")
@pytest.mark.parametrize("query", ["when=7d", "when=today", "seen_from=2026-01-01&seen_to=2026-12-31"])
def test_the_default_order_reads_its_index_with_a_date_range(admin_user, many_identities, query):
    make_file(many_identities[0], FileStatus.AVAILABLE)

    plan = _plan(admin_user, query)

    assert "file_dashboard_order_idx" in plan
    assert "file_first_seen_order_idx" not in plan


@pytest.mark.skipif(connection.vendor != "sqlite", reason="a hint for SQLite's planner, which has no statistics")
def test_first_seen_order_reads_its_own_index_with_a_date_range(admin_user, many_identities):
    make_file(many_identities[0], FileStatus.AVAILABLE)

    assert "file_first_seen_order_idx" in _plan(admin_user, "sort=-first_seen&when=7d")


@pytest.mark.skipif(connection.vendor != "sqlite", reason="a hint for SQLite's planner, which has no statistics")
@pytest.mark.parametrize(
    ("sort", "index"),
    [
        ("-finished", "file_finished_order_idx"),
        ("finished", "file_finished_order_idx"),
        ("status", "file_status_order_idx"),
        ("-status", "file_status_desc_order_idx"),
    ],
)
@pytest.mark.parametrize("when", ["", "&when=7d"])
def test_the_status_and_finished_orders_read_their_own_index(admin_user, many_identities, sort, index, when):
    make_file(many_identities[0], FileStatus.AVAILABLE)

    plan = _plan(admin_user, f"sort={sort}{when}")

    assert index in plan
    # Sorted by the index, not in a temporary tree of every file (at most the ties of its leading columns).
    assert "USE TEMP B-TREE FOR ORDER BY" not in plan


@pytest.mark.skipif(connection.vendor != "sqlite", reason="a hint for SQLite's planner, which has no statistics")
def test_a_rows_delivered_mark_is_looked_up_by_its_collected_pieces(admin_user, many_identities):
    make_file(many_identities[0], FileStatus.AVAILABLE)

    plan = _plan(admin_user, "")

    # From the file's collected pieces to their deliveries: never every delivered handover, row by row.
    assert "handover_due_idx" not in plan
