"""`make run`'s demo data: the simulator's credential and its identities (watching their PDF Manager batches), and
one export delivered to a folder."""

from __future__ import annotations

from tests.conftest import SIMULATOR_KEY
from tests.support.waiting import free_port
from webadmit_dash.collection.models import DeliveryRule, Destination
from webadmit_dash.core.models import Credential, UserIdentity
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


def test_the_demo_delivers_the_first_identitys_csv_export_to_the_outbox_once(db, simulator, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    credential = demo.ensure_demo_credential(simulator.base_url, SIMULATOR_KEY)

    delivery = demo.ensure_demo_delivery(credential)

    assert delivery is not None and delivery.created
    destination = Destination.objects.get(name=demo.DEMO_DESTINATION_NAME)
    assert destination.kind == Destination.Kind.FOLDER and destination.enabled
    assert destination.path == str(tmp_path / "outbox") == str(delivery.folder)
    assert (tmp_path / "outbox").is_dir() and (tmp_path / "outbox").stat().st_mode & 0o777 == 0o700
    rule = DeliveryRule.objects.get()
    first = UserIdentity.objects.filter(credential=credential).order_by("pk").first()
    assert rule.destination == destination and rule.identity == first and rule.enabled
    world_exports = simulator.world.exports(first.webadmit_id)
    csv = next(export for export in world_exports if export.format == "Comma-Separated Values")
    assert rule.export_name == csv.name == delivery.export_name
    rule.full_clean()  # a rule an administrator could have made

    # A later `make run` leaves it as the administrator may have changed it.
    rule.enabled = False
    rule.save()
    again = demo.ensure_demo_delivery(credential)
    assert again is not None and not again.created
    assert DeliveryRule.objects.count() == 1 and not DeliveryRule.objects.get().enabled


def test_the_demo_identities_watch_their_pdf_manager_batches_until_an_administrator_says_otherwise(db, simulator):
    credential = demo.ensure_demo_credential(simulator.base_url, SIMULATOR_KEY)
    identities = UserIdentity.objects.filter(credential=credential).order_by("pk")
    assert [identity.watch_pdf_batches for identity in identities] == [True, True]

    first = identities[0]
    UserIdentity.objects.filter(pk=first.pk).update(watch_pdf_batches=False)
    demo.ensure_demo_credential(simulator.base_url, SIMULATOR_KEY)  # the next `make run`

    assert not UserIdentity.objects.get(pk=first.pk).watch_pdf_batches
