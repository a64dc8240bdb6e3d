"""Hints for SQLite's query planner, which Django never gives statistics (no ANALYZE): where it would pick an index
that makes a page slow, the condition is written so that it cannot.

PostgreSQL has statistics and plans these queries well by itself, so the hints are SQLite's alone.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F, Func
from django.db.models.sql.compiler import SQLCompiler


class Unindexed(Func):
    """A column as it is, except that SQLite will not use an index for a condition on it: SQLite's own way of
    saying so, a unary "+" (sqlite.org/optoverview.html, "Disqualifying WHERE clause terms using unary-+").

    The Recent Files list in its default order with a date range is why: given the range, SQLite reads every file
    of the range by first_seen_at (a week: a fifth of them) and sorts them all to show 50, where reading the
    order's own index from the top and skipping the files out of range stops after a page (90 ms against 27 ms
    with 100,000 files, benchmarks/dashboard.py)."""

    arity = 1
    template = "%(expressions)s"  # elsewhere, the column itself

    def __init__(self, field: str, **extra: Any) -> None:
        super().__init__(F(field), **extra)

    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper, **extra_context: Any
    ) -> tuple[str, Any]:
        return super().as_sql(compiler, connection, template="+%(expressions)s", **extra_context)
