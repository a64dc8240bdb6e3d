"""WebAdMIT's callback: a known token is a hint to look again (204, one refresh), never a status; an unknown one a
bare 404; a storm of forged calls, known tokens or not, a 429 with Retry-After that causes at most one refresh per
token. Over Django's test client with the whole middleware stack, and over HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.test import Client
from django.utils import timezone

from tests.support.prometheus import parse, value
from webadmit_dash.core.models import Credential, ExportFile, RunRequest, UserIdentity
from webadmit_dash.engine import on_demand
from webadmit_dash.engine.on_demand import CallbackRefresh
from webadmit_dash.engine.refresh import refresh_identity
from webadmit_dash.ops import metrics
from webadmit_dash.schedules.models import CallbackWindow

from .conftest import call_back

pytestmark = pytest.mark.django_db


def test_a_known_token_is_answered_204_and_queues_a_refresh(client, started, django_capture_on_commit_callbacks):
    UserIdentity.objects.filter(pk=started.identity_id).update(refresh_queued_at=None)
    with django_capture_on_commit_callbacks() as sent:
        response = call_back(client, started)

    assert (response.status_code, response.content) == (204, b"")
    assert len(sent) == 1, "one refresh task sent"
    assert UserIdentity.objects.get(pk=started.identity_id).refresh_queued_at is not None
    started.refresh_from_db()
    assert started.callback_received_at is not None


def test_it_needs_no_sign_in_and_no_csrf_token(started):
    strict = Client(enforce_csrf_checks=True)
    assert call_back(strict, started).status_code == 204


def test_an_unknown_token_is_a_404_with_no_hint(client, started, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as sent:
        real = started.callback_token
        # The real token with its last character changed (to another one: a token may end in "A" itself).
        near = real[:-1] + ("B" if real.endswith("A") else "A")
        for token in ("x" * 43, near, "y" * 500):
            response = call_back(client, started, token=token)
            assert (response.status_code, response.content) == (404, b"")
    assert sent == []
    started.refresh_from_db()
    assert started.callback_received_at is None


def test_only_post_is_answered(client, started):
    url = f"/webadmit/callback/{started.callback_token}/"
    for method in (client.get, client.put, client.delete):
        assert method(url).status_code == 405
    started.refresh_from_db()
    assert started.callback_received_at is None


def test_fields_naming_another_run_are_refused(client, started, django_capture_on_commit_callbacks):
    url = f"/webadmit/callback/{started.callback_token}/"
    ids = {"export_file[id]": str(started.run_webadmit_id), "export_file[export_id]": str(started.export_webadmit_id)}
    with django_capture_on_commit_callbacks() as sent:
        assert client.post(url, {**ids, "export_file[id]": "1"}).status_code == 400
        assert client.post(url, {**ids, "export_file[export_id]": "9" * 5000}).status_code == 400
        assert client.post(url, {"export_file[status]": "Available"}).status_code == 400
        assert client.post(url, "{}", content_type="application/json").status_code == 400
    assert sent == []
    started.refresh_from_db()
    assert started.callback_received_at is None


def test_the_status_is_never_taken_from_the_call(client, started, sim):
    """The call says Available while WebAdMIT still has the run in progress: nothing changes but a refresh, after
    which the status is WebAdMIT's."""
    before = ExportFile.objects.get(pk=started.run_id)
    sim.force(started.run_webadmit_id, "In Progress")

    assert call_back(client, started, "Available").status_code == 204
    assert ExportFile.objects.get(pk=started.run_id).status == before.status, "the call changed nothing itself"

    refresh_identity(started.identity_id)  # the refresh the call asked for, as the worker runs it
    assert ExportFile.objects.get(pk=started.run_id).status == "in_progress"

    sim.force(started.run_webadmit_id, "Available")
    refresh_identity(started.identity_id)
    assert ExportFile.objects.get(pk=started.run_id).status == "available"


def test_a_token_causes_one_refresh_however_often_it_is_called(client, started, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as sent:
        first = call_back(client, started)
        UserIdentity.objects.filter(pk=started.identity_id).update(refresh_queued_at=None)
        # Replayed from many addresses, so no address's limit is reached: still no second refresh.
        repeats = [call_back(client, started, REMOTE_ADDR=f"198.51.100.{n}").status_code for n in range(1, 40)]
    assert first.status_code == 204 and set(repeats) == {204}
    assert len(sent) == 1
    first_call = RunRequest.objects.get(pk=started.pk).callback_received_at
    call_back(client, started)
    assert RunRequest.objects.get(pk=started.pk).callback_received_at == first_call, "the first call's time is kept"


def test_a_forged_storm_is_rate_limited_per_address(client, started, settings, django_capture_on_commit_callbacks):
    settings.WEBADMIT_CALLBACKS_PER_MINUTE = 5
    attacker = {"REMOTE_ADDR": "203.0.113.7"}
    with django_capture_on_commit_callbacks() as sent:
        answers = [call_back(client, started, **attacker) for _ in range(3)]
        answers += [call_back(client, started, token=f"forged{n:037d}", **attacker) for n in range(30)]
    codes = [answer.status_code for answer in answers]
    assert codes[:5] == [204, 204, 204, 404, 404]
    assert set(codes[5:]) == {429}
    retry_after = {int(answer["Retry-After"]) for answer in answers[5:]}
    assert all(1 <= seconds <= 60 for seconds in retry_after)
    assert len(sent) == 1, "the storm caused one refresh: the known token's first call"

    # Another address is not held back by this one's storm; this one's minute ends.
    assert call_back(client, started, REMOTE_ADDR="192.0.2.1").status_code == 204
    CallbackWindow.objects.filter(address="203.0.113.7").update(started_at=timezone.now() - timedelta(seconds=61))
    assert call_back(client, started, **attacker).status_code == 204


def test_the_address_counted_is_the_one_the_lockout_counts(client, started, settings):
    """Behind the TLS proxy, the proxy's last X-Forwarded-For entry: a client cannot pick a fresh address by
    writing the header itself."""
    import ipaddress

    settings.WEBADMIT_CALLBACKS_PER_MINUTE = 2
    settings.BEHIND_TLS_PROXY = True
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.2/32")]
    codes = [
        call_back(
            client, started, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=f"172.16.0.{n}, 203.0.113.50"
        ).status_code
        for n in range(4)
    ]
    assert codes == [204, 204, 429, 429]
    assert CallbackWindow.objects.filter(address="203.0.113.50").exists()


def test_callbacks_are_counted_by_outcome_in_metrics(client, started, settings):
    settings.WEBADMIT_CALLBACKS_PER_MINUTE = 3

    def counts() -> dict[str, float]:
        samples = parse(metrics.exposition().decode())
        return {
            o: value(samples, "webadmit_dash_callbacks_total", outcome=o)
            for o in metrics.schedule_signals.CALLBACK_OUTCOMES
        }

    before = counts()
    call_back(client, started)
    call_back(client, started, token="z" * 43)
    client.post(f"/webadmit/callback/{started.callback_token}/", {"export_file[id]": "1"})
    call_back(client, started)
    after = counts()
    assert {outcome: after[outcome] - before[outcome] for outcome in after} == {
        "accepted": 1,
        "unknown_token": 1,
        "bad_request": 1,
        "rate_limited": 1,
    }


# --- What the engine does with the call -------------------------------------------------------------------------


def test_a_refresh_already_queued_is_not_queued_twice(sim_identity, django_capture_on_commit_callbacks):
    UserIdentity.objects.filter(pk=sim_identity.pk).update(refresh_queued_at=timezone.now())
    with django_capture_on_commit_callbacks() as sent:
        assert on_demand.refresh_for_callback(sim_identity) is CallbackRefresh.ALREADY_QUEUED
    assert sent == []


def test_a_refresh_running_during_the_call_is_followed_by_another(sim_identity, django_capture_on_commit_callbacks):
    """The running refresh may have read WebAdMIT before the file changed: one more waits for its lock."""
    UserIdentity.objects.filter(pk=sim_identity.pk).update(refreshing_until=timezone.now() + timedelta(seconds=30))
    with django_capture_on_commit_callbacks() as sent:
        assert on_demand.refresh_for_callback(sim_identity) is CallbackRefresh.AFTER_CURRENT
    assert len(sent) == 1


def test_a_key_waiting_out_retry_after_refreshes_as_soon_as_the_wait_ends(sim_identity):
    now = timezone.now()
    backoff_until = now + timedelta(seconds=40)
    Credential.objects.filter(pk=sim_identity.credential_id).update(backoff_until=backoff_until)
    UserIdentity.objects.filter(pk=sim_identity.pk).update(next_refresh_at=now + timedelta(minutes=10))
    assert on_demand.refresh_for_callback(sim_identity, now=now) is CallbackRefresh.WHEN_ALLOWED
    identity = UserIdentity.objects.get(pk=sim_identity.pk)
    assert identity.next_refresh_at == backoff_until, "brought forward to the end of the wait, no sooner"
    assert identity.refresh_queued_at is None


def test_a_paused_identity_waits_for_its_own_check(sim_identity, django_capture_on_commit_callbacks):
    UserIdentity.objects.filter(pk=sim_identity.pk).update(paused=True, error_kind="key_rejected")
    with django_capture_on_commit_callbacks() as sent:
        assert on_demand.refresh_for_callback(sim_identity) is CallbackRefresh.NOT_NOW
    assert sent == []


def test_without_callbacks_no_token_is_given(settings, sim_identity, admin_user):
    from .conftest import start_here

    settings.WEBADMIT_CALLBACKS = False
    run_request = start_here(sim_identity, admin_user)
    assert run_request.callback_token is None


# --- Behind the middleware stack --------------------------------------------------------------------------------


def test_in_production_only_https_reaches_it(started, settings):
    """SECURE_SSL_REDIRECT answers a plain-http POST with a redirect (WebAdMIT would lose the call): SITE_URL must
    be https. Over https the call goes through every middleware (CSP, the admin guard, the lockout's) to 204."""
    settings.SECURE_SSL_REDIRECT = True
    client = Client()
    assert call_back(client, started).status_code == 301
    response = call_back(client, started, secure=True)
    assert response.status_code == 204
    assert "Content-Security-Policy" in response
    assert "sessionid" not in response.cookies, "no session is made for WebAdMIT"


@pytest.mark.django_db(transaction=True)
def test_over_http(live_server, started):
    url = f"{live_server.url}/webadmit/callback/{started.callback_token}/"
    fields = {
        "export_file[id]": started.run_webadmit_id,
        "export_file[export_id]": started.export_webadmit_id,
        "export_file[status]": "Available",
    }
    assert requests.get(url, timeout=10).status_code == 405
    assert requests.post(f"{live_server.url}/webadmit/callback/nope/", data=fields, timeout=10).status_code == 404
    response = requests.post(url, data=fields, timeout=10)
    assert (response.status_code, response.content) == (204, b"")
    assert RunRequest.objects.get(pk=started.pk).callback_received_at is not None
