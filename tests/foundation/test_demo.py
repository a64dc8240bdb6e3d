"""`make run`'s demo data: the simulator's credential and its identities."""

from __future__ import annotations

from tests.conftest import SIMULATOR_KEY
from tests.support.waiting import free_port
from webadmit_dash.core.models import Credential
from webadmit_dash.stack import demo


def test_the_demo_credential_follows_the_simulator_to_another_port(db, simulator):
    # A first `make run` left the credential pointing at the simulator's port of that day.
    earlier = Credential(name=demo.DEMO_CREDENTIAL_NAME, base_url=f"http://127.0.0.1:{free_port()}")
    earlier.set_api_key(SIMULATOR_KEY)
    earlier.save()

    credential = demo.ensure_demo_credential(simulator.base_url, SIMULATOR_KEY)

    assert credential.pk == earlier.pk and Credential.objects.count() == 1
    credential.refresh_from_db()
    assert credential.base_url == simulator.base_url
    assert credential.identities.count() == 2  # imported from the simulator it now points at
