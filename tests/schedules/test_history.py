"""An export's history (schedules/history.py) in words, with its edge cases (no finished run yet, one run, all
failed), and its page: the runs, the rate, the usual duration and the current run against it, the last good run and
who downloaded it (refused downloads do not count), in a number of queries that does not grow with the runs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.support.factories import make_file
from webadmit_dash.core.models import DownloadEvent, Export, ExportFile, RunRequest, StatusChange
from webadmit_dash.core.stuck import Usual
from webadmit_dash.schedules.history import RATE_WINDOW, progress_words, rate_words, usual_words
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = pytest.mark.django_db

F = FileStatus


@pytest.mark.parametrize(
    ("statuses", "words"),
    [
        ([], "No run has finished yet."),
        ([F.QUEUED, F.IN_PROGRESS], "No run has finished yet."),
        ([F.IN_PROGRESS, F.FAILED], "Its only finished run failed."),
        ([F.AVAILABLE], "Its only finished run ended well."),
        ([F.FAILED, F.FAILED, F.FAILED], "All of the last 3 runs failed."),
        ([F.AVAILABLE, F.EMPTY_LIST, F.SUCCESS_WITH_ERRORS], "None of the last 3 runs failed."),
        ([F.QUEUED, F.FAILED, F.AVAILABLE, F.FAILED, F.AVAILABLE], "Failed 2 of the last 4 runs."),
        # Only the newest ten count: the two older failures are out of the window.
        ([F.FAILED, *[F.AVAILABLE] * (RATE_WINDOW - 1), F.FAILED, F.FAILED], "Failed 1 of the last 10 runs."),
    ],
)
def test_the_failure_rate_in_words(statuses, words):
    assert rate_words(statuses) == words


def test_the_usual_duration_says_what_it_is_based_on():
    assert usual_words(Usual(None, 0)) == "No finished run yet to say how long a run usually takes."
    assert usual_words(Usual(timedelta(minutes=15), 1)) == "Usually takes 15 min (its one finished run)."
    assert usual_words(Usual(timedelta(minutes=15), 8)) == "Usually takes 15 min (the median of 8 finished runs)."


def test_the_current_run_is_told_against_the_usual_duration():
    now = timezone.now()
    started = now - timedelta(minutes=12)
    assert "Running " in progress_words(started, Usual(timedelta(minutes=15), 3), now)
    text = str(progress_words(started, Usual(timedelta(minutes=15), 3), now))
    assert ">12 min</time>; usually takes 15 min." in text
    assert "no finished run yet to compare with" in progress_words(started, Usual(None, 0), now)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _run(export: Export, status: FileStatus, took: timedelta | None, *, ago: timedelta) -> ExportFile:
    """A run first seen `ago`, that reached `status` after `took` as the refresher saw it (None: first seen as is)."""
    seen = timezone.now() - ago
    run = make_file(export.identity, status, export=export, first_seen_at=seen)
    if took is not None:
        StatusChange.objects.create(export_file=run, old_status="in_progress", new_status=status, raw_status=status)
        StatusChange.objects.filter(export_file=run).update(changed_at=seen + took)
    return run


def _history(export: Export, runs: int) -> list[ExportFile]:
    """`runs` runs, oldest first: failures and successes taking 10, 20, 30... minutes, then one still running."""
    made = []
    for n in range(runs):
        status = F.FAILED if n % 3 == 0 else F.AVAILABLE
        made.append(_run(export, status, timedelta(minutes=10 * (n + 1)), ago=timedelta(days=runs - n)))
    made.append(_run(export, F.IN_PROGRESS, None, ago=timedelta(minutes=12)))
    return made


def test_the_page_tells_the_exports_history(export, staff_granted, django_user_model):
    maria = django_user_model.objects.create_user("maria", first_name="Maria", last_name="Núñez <b>")
    failed, good, last_good, going = _history(export, 3)  # failed (10 min), good (20), good (30), running
    RunRequest.objects.create(
        user=maria, identity=export.identity, export_webadmit_id=export.webadmit_id, run=good, run_webadmit_id=1
    )
    DownloadEvent.objects.create(user=maria, export_file=last_good, file_webadmit_id=1, outcome="redirected")
    # A later click that did not give the file: not "downloaded by".
    DownloadEvent.objects.create(user=staff_granted, export_file=last_good, file_webadmit_id=1, outcome="expired")

    page = signed_in(staff_granted).get(f"/exports/{export.pk}/").content.decode()

    assert "Failed 1 of the last 3 runs." in page
    assert "Usually takes 20 min (the median of 3 finished runs)." in page
    assert f"File {going.webadmit_id}</a>: Running" in page and "; usually takes 20 min." in page
    assert f"File {last_good.webadmit_id}</a>, Available" in page
    assert "downloaded by Maria Núñez &lt;b&gt;" in page and "Núñez <b>" not in page
    assert "Maria Núñez &lt;b&gt; (Run again)" in page
    for run in (failed, good, last_good, going):
        assert f'id="run-{run.pk}"' in page
    assert 'aria-label="Outcomes of the last 4 runs, oldest first"' in page


def test_no_run_yet_and_a_last_good_run_nobody_downloaded(export, staff_granted):
    page = signed_in(staff_granted).get(f"/exports/{export.pk}/").content.decode()
    assert "WebAdMIT has listed no run of this export yet." in page
    assert "No finished run yet to say how long a run usually takes." in page
    assert 'id="last-good">None yet' in page

    _run(export, F.AVAILABLE, None, ago=timedelta(hours=1))  # first seen finished: its duration is unknown
    page = signed_in(staff_granted).get(f"/exports/{export.pk}/").content.decode()
    assert "Its only finished run ended well." in page
    assert "No finished run yet to say how long a run usually takes." in page
    assert "not downloaded from this dashboard yet" in page
    assert "before it was first seen" in page


def test_every_run_failed(export, staff_granted):
    for n in range(2):
        _run(export, F.FAILED, timedelta(minutes=5), ago=timedelta(hours=n + 1))
    page = signed_in(staff_granted).get(f"/exports/{export.pk}/").content.decode()
    assert "All of the last 2 runs failed." in page
    assert 'id="last-good">None yet' in page


def test_the_page_costs_the_same_queries_for_few_or_many_runs(export, staff_granted):
    client = signed_in(staff_granted)
    _history(export, 2)

    def page_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/exports/{export.pk}/").status_code == 200
        return len(queries)

    few = page_queries()
    for made in _history(export, 12):
        RunRequest.objects.create(
            user=staff_granted, identity=export.identity, export_webadmit_id=export.webadmit_id, run=made
        )
        DownloadEvent.objects.create(user=staff_granted, export_file=made, file_webadmit_id=1, outcome="redirected")
    assert page_queries() == few
