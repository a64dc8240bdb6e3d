"""A callback that comes while a refresh of its identity is running: that refresh may have read WebAdMIT before the
file changed, so another follows it. With the real worker: the follow-up waits for the lock instead of being
skipped, and reads WebAdMIT once the running refresh lets go."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.support.waiting import eventually
from tests.support.worker import celery_worker_process  # noqa: F401 - the shared fixture
from webadmit_dash.core.models import ExportFile, UserIdentity
from webadmit_dash.engine import on_demand
from webadmit_dash.engine.on_demand import CallbackRefresh
from webadmit_dash.engine.refresh import refresh_identity

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_the_refresh_after_the_running_one_waits_for_its_lock(celery_worker_process, sim_identity, sim):  # noqa: F811
    refresh_identity(sim_identity.pk)
    unfinished = (
        ExportFile.objects.filter(identity=sim_identity)
        .exclude(status__in=["available", "success_with_errors", "empty_list", "failed"])
        .first()
        or ExportFile.objects.filter(identity=sim_identity).first()
    )
    assert unfinished is not None
    # A refresh is "running" (its lock held) when WebAdMIT finishes the file and calls back.
    UserIdentity.objects.filter(pk=sim_identity.pk).update(refreshing_until=timezone.now() + timedelta(seconds=30))
    sim.force(unfinished.webadmit_id, "Failed")
    assert on_demand.refresh_for_callback(sim_identity) is CallbackRefresh.AFTER_CURRENT

    # The worker's follow-up finds the lock held and waits; the running refresh ends (its lock released).
    celery_worker_process.wait_for_log("run_refresh_after_current", timeout=20)
    assert ExportFile.objects.get(pk=unfinished.pk).status == unfinished.status, "not while the lock is held"
    UserIdentity.objects.filter(pk=sim_identity.pk).update(refreshing_until=None)

    eventually(
        lambda: ExportFile.objects.get(pk=unfinished.pk).status == "failed",
        timeout=20,
        what="the follow-up refresh",
        detail=lambda: celery_worker_process.log()[-3000:],
    )
