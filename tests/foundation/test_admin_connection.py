"""The admin's Test connection and Import identities actions, against the simulator over real HTTP."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.conftest import SIMULATOR_KEY
from webadmit_dash.core.models import Credential, UserIdentity
from webadmit_dash.simulator.data import SimulatedWorld
from webadmit_dash.simulator.server import SimulatorServer


@pytest.fixture
def world() -> SimulatedWorld:
    return SimulatedWorld(seed=7, identities=4)


@pytest.fixture
def signed_in_admin(client, admin_user):
    client.force_login(admin_user)
    return client


def make_credential(simulator: SimulatorServer, api_key: str = SIMULATOR_KEY) -> Credential:
    credential = Credential(name="Simulated SOPHAS", base_url=simulator.base_url)
    credential.set_api_key(api_key)
    credential.save()
    return credential


def run_action(client, action: str, credential: Credential) -> list[str]:
    response = client.post(
        reverse("admin:dashboard_credential_changelist"),
        {"action": action, "_selected_action": [credential.pk]},
        follow=True,
    )
    assert response.status_code == 200
    return [str(message) for message in response.context["messages"]]


@pytest.mark.django_db
def test_adding_a_credential_pointed_at_the_simulator_through_the_admin_form(signed_in_admin, simulator):
    response = signed_in_admin.post(
        reverse("admin:dashboard_credential_add"),
        {"name": "Simulated", "base_url": simulator.base_url, "api_key": SIMULATOR_KEY, "rate_limit_per_hour": 5000},
    )
    assert response.status_code == 302
    assert Credential.objects.get().base_url == simulator.base_url


@pytest.mark.django_db
def test_test_connection_reports_how_many_identities_the_key_sees(signed_in_admin, simulator):
    credential = make_credential(simulator)
    messages = run_action(signed_in_admin, "test_connection", credential)
    assert messages == ["'Simulated SOPHAS': the key works and sees 4 user identities."]
    credential.refresh_from_db()
    assert credential.health == Credential.Health.OK
    assert credential.last_checked_at is not None


@pytest.mark.django_db
def test_a_wrong_key_is_reported_in_plain_words(signed_in_admin, simulator):
    credential = make_credential(simulator, api_key="ffffffffffffffffffffffffffffffff")
    messages = run_action(signed_in_admin, "test_connection", credential)
    assert len(messages) == 1
    assert "rejected the API key" in messages[0]
    assert "Simulated SOPHAS" in messages[0]
    assert "ffffffff" not in messages[0]
    credential.refresh_from_db()
    assert credential.health == Credential.Health.KEY_REJECTED
    assert "rejected the API key" in credential.last_error


@pytest.mark.django_db
def test_an_unreachable_webadmit_marks_the_credential_unreachable(signed_in_admin):
    credential = Credential(name="Nowhere", base_url="http://127.0.0.1:9")
    credential.set_api_key(SIMULATOR_KEY)
    credential.save()
    messages = run_action(signed_in_admin, "test_connection", credential)
    assert len(messages) == 1
    credential.refresh_from_db()
    assert credential.health == Credential.Health.UNREACHABLE


@pytest.mark.django_db
def test_import_creates_identities_with_their_cas_and_cycle(signed_in_admin, simulator):
    credential = make_credential(simulator)
    messages = run_action(signed_in_admin, "import_identities", credential)
    assert messages == ["'Simulated SOPHAS': identities imported (4 new, 0 updated, 0 no longer listed by WebAdMIT)."]
    upstream = {item.id: item for item in simulator.world.identities()}
    imported = UserIdentity.objects.filter(credential=credential)
    assert set(imported.values_list("webadmit_id", flat=True)) == set(upstream)
    for identity in imported:
        assert identity.association == (upstream[identity.webadmit_id].association or "")
        assert identity.cycle == (upstream[identity.webadmit_id].cycle or "")


@pytest.mark.django_db
def test_import_flags_identities_that_vanished_upstream_and_keeps_them(signed_in_admin, simulator):
    credential = make_credential(simulator)
    vanished = UserIdentity.objects.create(credential=credential, webadmit_id=999_999_999_999, association="CASPA")
    messages = run_action(signed_in_admin, "import_identities", credential)
    assert "1 no longer listed by WebAdMIT" in messages[0]
    vanished.refresh_from_db()
    assert vanished.missing_upstream_since is not None
    run_action(signed_in_admin, "import_identities", credential)
    assert UserIdentity.objects.filter(credential=credential).count() == 5


def pause_for_rejected_key(credential: Credential) -> UserIdentity:
    return UserIdentity.objects.create(
        credential=credential,
        webadmit_id=240_891,
        paused=True,
        error_kind=UserIdentity.ErrorKind.KEY_REJECTED,
        error_message="WebAdMIT rejected the API key for credential 'Simulated SOPHAS'.",
    )


@pytest.mark.django_db
def test_a_successful_test_connection_resumes_identities_paused_by_a_rejected_key(signed_in_admin, simulator):
    credential = make_credential(simulator)
    Credential.objects.filter(pk=credential.pk).update(health=Credential.Health.KEY_REJECTED)
    paused = pause_for_rejected_key(credential)
    run_action(signed_in_admin, "test_connection", credential)
    paused.refresh_from_db()
    assert (paused.paused, paused.error_kind, paused.error_message) == (False, "", "")
    assert paused.change_seq > 0, "open pages must notice the banner should go"


@pytest.mark.django_db
def test_saving_a_new_key_resumes_paused_identities(signed_in_admin, simulator):
    credential = make_credential(simulator, api_key="ffffffffffffffffffffffffffffffff")
    paused = pause_for_rejected_key(credential)
    response = signed_in_admin.post(
        reverse("admin:dashboard_credential_change", args=[credential.pk]),
        {
            "name": credential.name,
            "base_url": simulator.base_url,
            "api_key": SIMULATOR_KEY,
            "rate_limit_per_hour": 5000,
        },
        follow=True,
    )
    assert "WebAdMIT accepted the key: 1 identity will refresh again." in response.content.decode()
    paused.refresh_from_db()
    assert not paused.paused
