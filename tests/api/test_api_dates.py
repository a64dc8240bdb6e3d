"""The API's date filter: the page's days (tests/web/test_dates.py), and a 422 in words for what it cannot use."""

from __future__ import annotations

import csv
import io

import pytest

from tests.web.test_dates import days, streamed

__all__ = ["days"]  # the page's world of four files, one per day


@pytest.mark.django_db
def test_the_api_keeps_the_same_days_and_refuses_bad_ones_in_words(days, api_as, staff_granted):
    api = api_as(staff_granted)
    items = api.get("/api/v1/files", {"when": "7d"}).json()["items"]
    assert [item["id"] for item in items] == [days[name].pk for name in ("today", "yesterday", "3 days")]
    ranged = api.get("/api/v1/files", {"seen_from": days["dates"][3], "seen_to": days["dates"][1]}).json()
    assert [item["id"] for item in ranged["items"]] == [days["yesterday"].pk, days["3 days"].pk]
    assert len(list(csv.reader(io.StringIO(streamed(api.get("/api/v1/files.csv", {"when": "today"})))))) == 2
    for query, words in (
        ({"when": "tomorrow"}, "Input should be '', 'today', 'yesterday' or '7d'"),
        ({"seen_from": "2026-13-45"}, "Input should be a valid date"),
        ({"seen_from": "2026-12-04", "seen_to": "2026-12-01"}, "The dates are the wrong way round"),
        ({"when": "today", "seen_to": "2026-12-01"}, "Give either when or seen_from/seen_to"),
    ):
        response = api.get("/api/v1/files", query)
        assert response.status_code == 422, query
        assert words in str(response.json()), response.json()
