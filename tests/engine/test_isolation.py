"""One bad credential or identity never stops the rest: the admin refuses nonsense with a clear error, and a
nonsense value that reaches the database anyway (written past the admin) is logged and skipped by the dispatcher,
while every other credential is scheduled and refreshed as usual."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from webadmit_dash.core.models import Credential, UserIdentity
from webadmit_dash.engine import schedule
from webadmit_dash.engine.refresh import Outcome, refresh_identity
from webadmit_dash.engine.tasks import dispatch_due_refreshes

pytestmark = pytest.mark.django_db


def test_a_credential_with_a_nonsense_budget_does_not_stop_another_credentials_refreshes(
    sim_identities, credential, identity, caplog, django_capture_on_commit_callbacks
):
    # Written past the admin's validation, as a script or a hand-edited database would.
    Credential.objects.filter(pk=credential.pk).update(rate_limit_per_hour=0)
    UserIdentity.objects.filter(pk=identity.pk).update(fast_interval=0, slow_interval=0)
    healthy = sim_identities[0].credential

    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks() as sent:
        queued = dispatch_due_refreshes()

    assert queued == len(sim_identities) + 1, "every due identity is dispatched, the bad credential's too"
    assert len(sent) == queued
    assert f"Credential {credential.pk} (Nursing): its cadence could not be computed" in caplog.text
    assert "rate_limit_per_hour is 0" in caplog.text
    healthy.refresh_from_db()
    assert healthy.settled_interval is not None, "the healthy key's cadence was computed"
    for other in sim_identities:
        assert refresh_identity(other.pk).outcome is Outcome.REFRESHED
    # And the next run does the same, rather than failing on every run from now on.
    with django_capture_on_commit_callbacks():
        dispatch_due_refreshes()


def test_a_nonsense_stretch_in_the_database_cannot_crash_a_refresh(sim_identity):
    Credential.objects.filter(pk=sim_identity.credential_id).update(cadence_factor=1e300, settled_interval=-5)

    assert refresh_identity(sim_identity.pk).outcome is Outcome.REFRESHED

    identity = UserIdentity.objects.get(pk=sim_identity.pk)
    assert identity.next_refresh_at - identity.last_success_at <= timedelta(hours=1.1)


def test_the_budget_checks_its_own_input():
    credential = Credential(name="Bad", rate_limit_per_hour=0)

    with pytest.raises(schedule.NonsenseBudget, match="rate_limit_per_hour is 0; it must be at least 1"):
        schedule.cadence_factor(credential, 100, timezone.now())


@pytest.fixture
def signed_in_admin(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.mark.parametrize(
    ("rate", "error"),
    [
        ("0", "WebAdMIT allows at least 1 call an hour (5,000 today)."),
        ("2000000", "At most 1,000,000 calls an hour (WebAdMIT allows 5,000)."),
    ],
)
def test_the_admin_refuses_a_rate_limit_no_schedule_can_follow(signed_in_admin, credential, rate, error):
    response = signed_in_admin.post(
        reverse("admin:dashboard_credential_change", args=[credential.pk]),
        {"name": credential.name, "base_url": credential.base_url, "api_key": "", "rate_limit_per_hour": rate},
    )

    assert response.status_code == 200
    assert error in response.content.decode()
    assert Credential.objects.get(pk=credential.pk).rate_limit_per_hour == 5000


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("fast_interval", "0", "The running cadence is at least 1 second (leave it blank for the site default)."),
        ("fast_interval", "3601", "The running cadence is at most 3600 seconds."),
        ("slow_interval", "0", "The settled cadence is at least 1 second (leave it blank for the site default)."),
        ("slow_interval", "86401", "The settled cadence is at most 86400 seconds."),
    ],
)
def test_the_admin_refuses_a_cadence_out_of_bounds(signed_in_admin, identity, field, value, error):
    form = {
        "credential": identity.credential_id,
        "webadmit_id": identity.webadmit_id,
        "label": "",
        "enabled": "on",
        "type": identity.type,
        "association": identity.association,
        "institution": identity.institution,
        "organization": identity.organization,
        "cycle": identity.cycle,
        "fast_interval": "",
        "slow_interval": "",
        "next_refresh_at_0": "",
        "next_refresh_at_1": "",
        "grants-TOTAL_FORMS": "0",
        "grants-INITIAL_FORMS": "0",
        field: value,
    }

    response = signed_in_admin.post(reverse("admin:dashboard_useridentity_change", args=[identity.pk]), form)

    assert response.status_code == 200
    assert error in response.content.decode()
    assert getattr(UserIdentity.objects.get(pk=identity.pk), field) is None
