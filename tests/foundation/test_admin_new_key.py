"""Saving a new API key in the admin checks it with one WebAdMIT call and says the outcome in words; a rejected
key's identities stay paused until a check passes. Against the simulator over real HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.messages import constants
from django.urls import reverse
from django.utils import timezone

from tests.conftest import SIMULATOR_KEY
from tests.support.simulated import SimulatorControl
from webadmit_dash.core.models import Credential, UserIdentity
from webadmit_dash.core.problems import ErrorKind
from webadmit_dash.simulator.server import SimulatorServer

WRONG_KEY = "ffffffffffffffffffffffffffffffff"
OTHER_WRONG_KEY = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"


@pytest.fixture
def signed_in_admin(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def sim(simulator: SimulatorServer) -> SimulatorControl:
    return SimulatorControl(simulator)


def rejected_credential(simulator: SimulatorServer, paused: int = 6) -> Credential:
    """A credential whose key WebAdMIT rejected: `paused` identities paused for it, as the engine leaves them."""
    credential = Credential(name="Simulated SOPHAS", base_url=simulator.base_url)
    credential.set_api_key(WRONG_KEY)
    credential.health = Credential.Health.KEY_REJECTED
    credential.last_error = "WebAdMIT rejected the API key for credential 'Simulated SOPHAS'."
    credential.last_checked_at = timezone.now()
    credential.save()
    for n in range(paused):
        UserIdentity.objects.create(
            credential=credential,
            webadmit_id=240_000 + n,
            paused=True,
            error_kind=ErrorKind.KEY_REJECTED,
            error_message="WebAdMIT rejected the API key for credential 'Simulated SOPHAS'.",
        )
    return credential


def save_key(client, credential: Credential, api_key: str) -> tuple[list[tuple[int, str]], str]:
    response = client.post(
        reverse("admin:dashboard_credential_change", args=[credential.pk]),
        {"name": credential.name, "base_url": credential.base_url, "api_key": api_key, "rate_limit_per_hour": 5000},
        follow=True,
    )
    assert response.status_code == 200
    said = [(message.level, str(message)) for message in response.context["messages"]]
    return said, response.content.decode()


def still_paused(credential: Credential) -> int:
    return UserIdentity.objects.filter(credential=credential, paused=True, error_kind=ErrorKind.KEY_REJECTED).count()


@pytest.mark.django_db
def test_an_accepted_key_says_so_and_resumes_the_paused_identities(signed_in_admin, simulator):
    credential = rejected_credential(simulator)
    said, page = save_key(signed_in_admin, credential, SIMULATOR_KEY)
    assert (constants.SUCCESS, "WebAdMIT accepted the key: 6 identities will refresh again.") in said
    assert not any("changed successfully" in words for _, words in said)
    assert "changed successfully" not in page
    assert still_paused(credential) == 0
    credential.refresh_from_db()
    assert credential.health == Credential.Health.OK
    assert credential.rate_limit_remaining is not None, "the check is counted in the key's budget"


@pytest.mark.django_db
def test_a_rejected_key_says_so_and_its_identities_stay_paused(signed_in_admin, simulator):
    credential = rejected_credential(simulator)
    said, page = save_key(signed_in_admin, credential, OTHER_WRONG_KEY)
    assert said == [
        (
            constants.ERROR,
            "WebAdMIT rejected this key (401): its 6 identities stay paused until a key is accepted. "
            "Check the key in WebAdMIT and enter it again.",
        )
    ]
    assert "will refresh again" not in page and "changed successfully" not in page
    assert OTHER_WRONG_KEY not in page and not any("eeee" in words for _, words in said)
    assert still_paused(credential) == 6
    credential.refresh_from_db()
    assert credential.health == Credential.Health.KEY_REJECTED
    assert credential.get_api_key() == OTHER_WRONG_KEY, "the key is saved all the same"
    assert credential.failed_checks == 0 and credential.next_check_at is not None


@pytest.mark.django_db
def test_a_wrong_key_for_a_working_credential_pauses_its_identities(signed_in_admin, simulator):
    credential = rejected_credential(simulator, paused=0)
    Credential.objects.filter(pk=credential.pk).update(health=Credential.Health.OK)
    UserIdentity.objects.create(credential=credential, webadmit_id=1)
    credential.refresh_from_db()
    said, _ = save_key(signed_in_admin, credential, OTHER_WRONG_KEY)
    assert said[0][1].startswith("WebAdMIT rejected this key (401): its 1 identity stays paused")
    assert still_paused(credential) == 1


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ({"kind": "rate_limited", "seconds": 600}, "WebAdMIT's hourly call limit for this key is used up (429)"),
        ({"kind": "timeout", "seconds": 5}, "WebAdMIT could not be reached"),
        ({"kind": "unavailable"}, "WebAdMIT could not be reached (503)"),
        ({"kind": "malformed_json"}, "WebAdMIT's answer could not be read"),
    ],
)
@pytest.mark.django_db
def test_a_key_webadmit_could_not_check_is_saved_and_checked_again_later(
    signed_in_admin, simulator, sim, settings, fault, words
):
    settings.WEBADMIT_INTERACTIVE_READ_TIMEOUT = 1  # the admin page waits no longer than a person's call
    credential = rejected_credential(simulator)
    sim.fault(endpoint="E1", **fault)
    started = timezone.now()
    said, page = save_key(signed_in_admin, credential, SIMULATOR_KEY)
    assert timezone.now() - started < timedelta(seconds=4)
    [(level, message)] = said
    assert level == constants.WARNING
    credential.refresh_from_db()
    when = timezone.localtime(credential.next_check_at).strftime("%H:%M")
    assert message == f"{words}: the key is saved and will be checked again at {when}."
    assert SIMULATOR_KEY not in page
    assert credential.get_api_key() == SIMULATOR_KEY, "nothing is lost: the key is saved"
    assert credential.health == Credential.Health.KEY_REJECTED
    assert still_paused(credential) == 6, "paused until a check passes"
    if fault["kind"] == "rate_limited":
        assert credential.backoff_until is not None and credential.next_check_at >= credential.backoff_until
        assert credential.rate_limit_remaining == 0


@pytest.mark.django_db
def test_the_rejected_keys_own_check_later_accepts_the_saved_key(signed_in_admin, simulator, sim):
    from webadmit_dash.engine import healing

    credential = rejected_credential(simulator)
    sim.fault("unavailable", endpoint="E1", times=1)
    save_key(signed_in_admin, credential, SIMULATOR_KEY)
    assert still_paused(credential) == 6
    assert healing.check_key(credential.pk) is True
    assert still_paused(credential) == 0


@pytest.mark.django_db
def test_a_credential_waiting_out_the_rate_limit_is_not_called(signed_in_admin, simulator, sim):
    credential = rejected_credential(simulator)
    until = timezone.now() + timedelta(minutes=20)
    Credential.objects.filter(pk=credential.pk).update(backoff_until=until)
    credential.refresh_from_db()
    sim.fault("key_rejected", endpoint="E1")  # a call would be told as a rejection
    said, _ = save_key(signed_in_admin, credential, SIMULATOR_KEY)
    when = timezone.localtime(until).strftime("%H:%M")
    assert said == [
        (
            constants.WARNING,
            f"WebAdMIT's hourly call limit for this key is used up: the key is saved and will be checked again at "
            f"{when}.",
        )
    ]
    assert still_paused(credential) == 6


@pytest.mark.django_db
def test_adding_a_credential_checks_its_key(signed_in_admin, simulator):
    response = signed_in_admin.post(
        reverse("admin:dashboard_credential_add"),
        {"name": "New", "base_url": simulator.base_url, "api_key": WRONG_KEY, "rate_limit_per_hour": 5000},
        follow=True,
    )
    said = [str(message) for message in response.context["messages"]]
    assert "WebAdMIT rejected this key (401). Check the key in WebAdMIT and enter it again." in said
    assert Credential.objects.get(name="New").health == Credential.Health.KEY_REJECTED


@pytest.mark.django_db
def test_saving_without_a_new_key_makes_no_call(signed_in_admin, simulator, sim):
    credential = rejected_credential(simulator)
    sim.fault("key_rejected", endpoint="E1")  # any call would be seen as a rejection
    said, _ = save_key(signed_in_admin, credential, "")
    assert not any("WebAdMIT" in words for _, words in said)
    assert still_paused(credential) == 6
