"""The destination admin in a browser: the SFTP add form (its fields only, the secret write-only, the host key's
words) and the list (kind, target, enabled, last delivery), pictured for a person to look at."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.utils import timezone

from tests.support.browser import screenshot, sign_in
from tests.support.factories import make_file
from webadmit_dash.collection.models import CollectedFile, Destination, FileDelivery

pytestmark = pytest.mark.browser

PASSWORD = "correct-horse-battery-staple-91"


def deliveries(identity, destination: Destination, state: str, **fields: object) -> None:
    export_file = make_file(identity)
    collected = CollectedFile.objects.create(
        export_file=export_file,
        identity=identity,
        file_webadmit_id=export_file.webadmit_id,
        export_webadmit_id=export_file.export_webadmit_id,
        export_name=export_file.export_name,
        state=CollectedFile.State.COLLECTED,
        finished_at=timezone.now() - timedelta(hours=1),
        storage_name="x",
        size=10,
        sha256="ab" * 32,
        content_type="text/csv",
        collected_at=timezone.now(),
    )
    FileDelivery.objects.create(collected=collected, destination=destination, file_name="a.csv", state=state, **fields)


def test_the_destination_admin_add_form_and_list(stack, page):
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    page.goto(f"{stack.base_url}/admin/collection/destination/add/?kind=sftp")
    host_key = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH)
    for field, value in {
        "name": "Slate SFTP",
        "host": "sftp.technolutions.net",
        "username": "slate-in",
        "directory": "incoming",
        "host_key": host_key.decode() + " root@sftp",
        "secret": PASSWORD,
    }.items():
        page.fill(f"#id_{field}", value)
    assert page.get_by_label("Password or private key").count() == 1
    screenshot(page, "destination-admin-add-sftp")
    page.get_by_role("button", name="Save and continue editing").click()
    page.wait_for_selector("text=Host key fingerprint")
    assert PASSWORD not in page.content()
    screenshot(page, "destination-admin-saved-sftp")

    slate = Destination.objects.get(name="Slate SFTP")
    outbox = Destination.objects.create(name="Registrar share", kind="folder", path="/srv/registrar/outbox")
    Destination.objects.create(
        name="Data lake", kind="s3", bucket="admissions", prefix="webadmit/", enabled=False, access_key_id="AKIA"
    )
    identity = stack.identities[0]
    deliveries(identity, outbox, "delivered", delivered_at=timezone.now() - timedelta(minutes=3))
    deliveries(
        identity,
        slate,
        "failed",
        failed_at=timezone.now(),
        last_error="The SFTP server refused the password for slate-in (authentication failed).",
    )
    page.goto(f"{stack.base_url}/admin/collection/destination/")
    page.wait_for_selector("#result_list")
    text = page.inner_text("#result_list")
    assert "slate-in@sftp.technolutions.net:incoming" in text and "refused the password" in text
    assert "Nothing delivered yet" in text
    screenshot(page, "destination-admin-list")


def test_a_collected_files_trail_and_a_delivery_rules_form(stack, page):
    sign_in(page, stack.base_url, stack.user.username, stack.password)
    slate = Destination.objects.create(name="Slate SFTP", kind="sftp", host="sftp.example.edu", username="slate")
    outbox = Destination.objects.create(name="Registrar share", kind="folder", path="/srv/registrar/outbox")
    identity = stack.identities[0]
    deliveries(identity, slate, "failed", failed_at=timezone.now(), attempts=12, last_error="Host key changed")
    collected = CollectedFile.objects.get()
    FileDelivery.objects.create(
        collected=collected,
        destination=outbox,
        file_name="a.csv",
        state="delivered",
        delivered_at=timezone.now(),
        remote_name="/srv/registrar/outbox/Nightly_Banner_Export_20261205_1042_1.csv",
        checksum_verified=True,
    )
    page.goto(f"{stack.base_url}/admin/collection/collectedfile/{collected.pk}/change/")
    page.wait_for_selector("text=Trail of deliveries")
    assert "Host key changed" in page.content()
    screenshot(page, "collected-file-admin")

    page.goto(f"{stack.base_url}/admin/collection/deliveryrule/add/")
    page.fill("#id_export_name", "Nightly Banner Export")
    page.fill("#id_file_name", "{export}_{applicant}.csv")
    page.select_option("#id_destination", str(slate.pk))
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_selector(".errorlist")
    assert "which is not one of" in page.content()
    screenshot(page, "delivery-rule-admin-error")
