"""Downloads and Run again spend the key's hourly WebAdMIT budget, which refreshes everyone's files: one person may
ask for WEBADMIT_INTERACTIVE_PER_MINUTE a minute (429 with Retry-After past it), and everyone together at most
WEBADMIT_INTERACTIVE_SHARE percent of the key's hourly limit, so that a script's flood leaves the others' downloads
and the refreshes working. Against the simulator over HTTP, with a small hourly budget it enforces as WebAdMIT does.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from tests.conftest import SIMULATOR_KEY
from tests.support.factories import make_export, make_file
from webadmit_dash.core.models import Credential, DownloadEvent, ExportFile, IdentityGrant, UserIdentity
from webadmit_dash.engine import refresh, tasks
from webadmit_dash.engine.models import InteractiveCall
from webadmit_dash.engine.refresh import Outcome
from webadmit_dash.simulator.data import SimulatedWorld
from webadmit_dash.simulator.server import SimulatorServer
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = pytest.mark.django_db
HOURLY_LIMIT = 200  # the simulator's and the credential's: 10 percent of it is 20 interactive calls an hour
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def small_budget(world: SimulatedWorld) -> Iterator[SimulatorServer]:
    with SimulatorServer(world, api_keys=[SIMULATOR_KEY], rate_limit_per_hour=HOURLY_LIMIT) as server:
        yield server


@pytest.fixture
def shared_identity(small_budget: SimulatorServer, world: SimulatedWorld) -> UserIdentity:
    credential = Credential(name="Shared key", base_url=small_budget.base_url, rate_limit_per_hour=HOURLY_LIMIT)
    credential.set_api_key(SIMULATOR_KEY)
    credential.save()
    return UserIdentity.objects.create(credential=credential, webadmit_id=world.identities()[0].id)


@pytest.fixture
def available(shared_identity: UserIdentity, world: SimulatedWorld) -> ExportFile:
    state = world.files(shared_identity.webadmit_id)[0]
    world.force_status(state.id, "Available")
    export = make_export(shared_identity, state.export_id)
    return make_file(shared_identity, FileStatus.AVAILABLE, webadmit_id=state.id, export=export)


@pytest.fixture
def colleague(shared_identity: UserIdentity) -> User:
    user = User.objects.create_user("erin", "erin@example.edu", "password")
    IdentityGrant.objects.create(identity=shared_identity, user=user)
    return user


def e5_calls(server: SimulatorServer) -> int:
    return sum(count for (endpoint, _), count in server.app.calls.items() if endpoint == "E5")


def test_one_users_flood_gets_429s_while_a_colleagues_download_and_the_refreshes_go_on(
    api_as, admin_user, colleague, available, shared_identity, small_budget, settings
):
    settings.WEBADMIT_INTERACTIVE_PER_MINUTE = 5
    script = api_as(admin_user)

    answers = [script.get(f"/api/v1/files/{available.pk}/download") for _ in range(40)]

    assert [answer.status_code for answer in answers] == [302] * 5 + [429] * 35
    refused = answers[-1]
    assert 1 <= int(refused["Retry-After"]) <= 61
    assert refused.json()["title"] == "Too many requests"
    assert "5 downloads or runs in the last minute" in refused.json()["detail"]
    assert e5_calls(small_budget) == 5, "refused downloads never reach WebAdMIT"
    assert api_as(colleague).get(f"/api/v1/files/{available.pk}/download").status_code == 302
    assert refresh.refresh_identity(shared_identity.pk).outcome is Outcome.REFRESHED
    assert DownloadEvent.objects.filter(user=admin_user, outcome="rate_limited").count() == 35


@pytest.mark.slow
def test_everyones_downloads_together_stop_at_their_share_of_the_keys_budget_and_refreshes_keep_theirs(
    api_as, admin_user, colleague, available, shared_identity, small_budget, settings
):
    settings.WEBADMIT_INTERACTIVE_PER_MINUTE = 1000
    assert settings.WEBADMIT_INTERACTIVE_SHARE == 10

    answers = [api_as(user).get(f"/api/v1/files/{available.pk}/download") for user in [admin_user, colleague] * 150]

    assert sum(answer.status_code == 302 for answer in answers) == HOURLY_LIMIT // 10
    refused = answers[-1]
    assert refused.status_code == 503 and int(refused["Retry-After"]) > 3000
    assert "Shared key" in refused.json()["detail"] and "20 calls an hour" in refused.json()["detail"]
    assert e5_calls(small_budget) == 20
    # The refreshes' share is untouched: the engine can still make the calls it plans with.
    for _ in range(10):
        assert refresh.refresh_identity(shared_identity.pk).outcome is Outcome.REFRESHED


def test_a_download_page_past_the_limit_says_so_in_words_with_retry_after(
    client, admin_user, available, small_budget, settings
):
    settings.WEBADMIT_INTERACTIVE_PER_MINUTE = 1
    client.force_login(admin_user)
    assert client.get(f"/files/{available.pk}/download/").status_code == 302

    page = client.get(f"/files/{available.pk}/download/")

    assert page.status_code == 429 and 1 <= int(page["Retry-After"]) <= 61
    html = page.content.decode()
    assert "Too many requests" in html and "as many as one person may" in html and "Try again" in html


def test_run_again_past_the_limit_says_so_in_words_by_htmx_and_without(
    client, admin_user, shared_identity, world, settings
):
    settings.WEBADMIT_INTERACTIVE_PER_MINUTE = 1
    state = world.files(shared_identity.webadmit_id)[0]
    world.force_status(state.id, "Failed")
    failed = make_file(
        shared_identity, FileStatus.FAILED, webadmit_id=state.id, export=make_export(shared_identity, state.export_id)
    )
    client.force_login(admin_user)
    assert "WebAdMIT is running" in client.post(f"/files/{failed.pk}/run-again/", **HTMX).content.decode()

    by_htmx = client.post(f"/files/{failed.pk}/run-again/", **HTMX).content.decode()
    without = client.post(f"/files/{failed.pk}/run-again/", {"next": "/"}, follow=True).content.decode()

    for html in (by_htmx, without):
        assert "Could not start" in html and "as many as one person may" in html


def test_the_hourly_prune_forgets_calls_no_limit_counts_any_more(admin_user, shared_identity):
    old = InteractiveCall.objects.create(
        user=admin_user, credential=shared_identity.credential, made_at=timezone.now() - timedelta(minutes=61)
    )
    recent = InteractiveCall.objects.create(user=admin_user, credential=shared_identity.credential)

    assert tasks.prune_history()["interactive_calls"] == 1

    assert list(InteractiveCall.objects.values_list("pk", flat=True)) == [recent.pk] != [old.pk]
