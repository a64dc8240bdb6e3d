"""The admin of collection: a destination's secret is write-only (never rendered back, not even into a form that comes
back with an error), an SFTP host key is checked and shown by its fingerprint, the list says where each destination
puts files and how its last delivery went; rules' templates and conditions are checked in words; collected files are
proof (read-only but for the hold) with their trail and Deliver again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from django.urls import reverse
from django.utils import timezone

from tests.support.factories import make_file
from webadmit_dash.collection.destinations.sftp import fingerprint
from webadmit_dash.collection.models import CollectedFile, CollectionRule, DeliveryRule, Destination, FileDelivery

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-staple-91"
S3_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ADD = reverse("admin:collection_destination_add")


@pytest.fixture
def signed_in_admin(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture(scope="module")
def host_key_line() -> str:
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    return public.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode() + " root@sftp.example.edu"


@pytest.fixture(scope="module")
def private_key_text() -> str:
    private = ed25519.Ed25519PrivateKey.generate()
    return private.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()).decode()


def sftp_form(host_key_line: str, **overrides: str) -> dict[str, str]:
    return {
        "name": "Slate SFTP",
        "kind": "sftp",
        "enabled": "on",
        "host": "sftp.technolutions.net",
        "port": "22",
        "username": "slate-in",
        "directory": "incoming",
        "host_key": host_key_line,
        "secret": PASSWORD,
        **overrides,
    }


def test_an_sftp_destination_keeps_its_password_encrypted_and_never_renders_it(signed_in_admin, host_key_line):
    # Pasted with its line break, which is not part of the password.
    response = signed_in_admin.post(ADD, sftp_form(host_key_line, secret=PASSWORD + "\r\n"), follow=True)
    assert response.status_code == 200
    destination = Destination.objects.get()
    assert destination.get_secret() == PASSWORD and not destination.uses_private_key
    assert PASSWORD not in destination.secret_encrypted
    shown = fingerprint(host_key_line)
    assert shown.startswith("SHA256:")
    assert shown in response.content.decode()  # said once saved, to compare with the server admin's

    change = signed_in_admin.get(reverse("admin:collection_destination_change", args=[destination.pk]))
    page = change.content.decode()
    assert PASSWORD not in page
    assert "A password is stored" in page
    assert shown in page
    assert "bucket" not in page  # only SFTP's fields


def test_a_pasted_private_key_is_used_as_one_and_a_blank_secret_keeps_what_is_stored(
    signed_in_admin, host_key_line, private_key_text
):
    signed_in_admin.post(ADD, sftp_form(host_key_line, secret=private_key_text))
    destination = Destination.objects.get()
    assert destination.uses_private_key and destination.get_secret().startswith("-----BEGIN OPENSSH PRIVATE KEY")
    change = reverse("admin:collection_destination_change", args=[destination.pk])
    page = signed_in_admin.get(change).content.decode()
    assert "A private key is stored" in page and "PRIVATE KEY-----" not in page

    form = sftp_form(host_key_line, secret="", directory="outgoing")
    del form["kind"]  # read-only once added
    assert signed_in_admin.post(change, form).status_code == 302
    destination.refresh_from_db()
    assert destination.directory == "outgoing" and destination.uses_private_key
    assert destination.get_secret() == private_key_text.strip() + "\n"


def test_a_form_returned_with_an_error_does_not_send_the_secret_back(signed_in_admin, host_key_line, private_key_text):
    response = signed_in_admin.post(ADD, sftp_form(host_key_line, secret=private_key_text, host=""))
    page = response.content.decode()
    assert response.status_code == 200 and "needs this" in page
    assert "PRIVATE KEY" not in page and not Destination.objects.exists()


@pytest.mark.parametrize(
    ("host_key", "said"),
    [
        ("not a key at all", "a host key is one line such as"),
        ("ssh-ed25519 AAAAnotbase64!!", "is not a valid key"),
    ],
)
def test_a_host_key_that_is_not_one_is_refused_in_words(signed_in_admin, host_key_line, host_key, said):
    response = signed_in_admin.post(ADD, sftp_form(host_key_line, host_key=host_key))
    assert said in response.content.decode()
    assert not Destination.objects.exists()


def test_a_private_key_that_cannot_be_read_is_refused_without_quoting_it(signed_in_admin, host_key_line):
    broken = "-----BEGIN OPENSSH PRIVATE KEY-----\nbm90IGEga2V5LXN1cGVyc2VjcmV0\n-----END OPENSSH PRIVATE KEY-----"
    page = signed_in_admin.post(ADD, sftp_form(host_key_line, secret=broken)).content.decode()
    assert "This private key cannot be used" in page
    assert "bm90IGEga2V5LXN1cGVyc2VjcmV0" not in page


def test_an_s3_destination_needs_its_bucket_key_id_and_secret(signed_in_admin):
    form = {"name": "Data lake", "kind": "s3", "enabled": "on", "port": "22", "region": "us-east-1"}
    page = signed_in_admin.post(ADD, form).content.decode()
    assert page.count("needs this") == 2 and "Enter the secret access key" in page
    form |= {"bucket": "admissions", "prefix": "webadmit/", "access_key_id": "AKIAEXAMPLE", "secret": S3_SECRET}
    assert signed_in_admin.post(ADD, form).status_code == 302
    destination = Destination.objects.get()
    assert destination.get_secret() == S3_SECRET and not destination.uses_private_key
    page = signed_in_admin.get(reverse("admin:collection_destination_change", args=[destination.pk])).content.decode()
    assert S3_SECRET not in page and "A secret access key is stored" in page


def test_a_folder_needs_an_absolute_path_and_keeps_no_secret(signed_in_admin, host_key_line):
    form = {"name": "Outbox", "kind": "folder", "enabled": "on", "port": "22", "region": "us-east-1"}
    assert "absolute path" in signed_in_admin.post(ADD, form | {"path": "outbox"}).content.decode()
    # What was typed into another kind's fields on the add form is not kept.
    signed_in_admin.post(ADD, form | {"path": "/srv/outbox", "secret": PASSWORD, "host": "sftp.example.edu"})
    destination = Destination.objects.get()
    assert destination.path == "/srv/outbox" and not destination.has_secret and destination.host == ""


def test_the_add_form_opened_for_one_kind_shows_that_kinds_fields_with_clear_words(signed_in_admin):
    page = signed_in_admin.get(ADD + "?kind=sftp").content.decode()
    assert "Password or private key" in page and "ssh-keyscan" in page
    assert 'name="bucket"' not in page and 'name="path"' not in page
    page = signed_in_admin.get(ADD).content.decode()
    assert "SFTP only" in page and "S3-compatible bucket only" in page and "Folder only" in page


def delivery_to(destination: Destination, identity, state: str, **fields) -> FileDelivery:
    export_file = make_file(identity)
    collected = CollectedFile.objects.create(
        export_file=export_file,
        identity=identity,
        file_webadmit_id=export_file.webadmit_id,
        export_webadmit_id=export_file.export_webadmit_id,
        export_name=export_file.export_name,
        state=CollectedFile.State.COLLECTED,
        finished_at=timezone.now() - timedelta(hours=1),
        storage_name="archive/1.bin",
        size=10,
        sha256="ab" * 32,
        content_type="text/csv",
        collected_at=timezone.now() - timedelta(minutes=59),
    )
    return FileDelivery.objects.create(
        collected=collected, destination=destination, file_name="a.csv", state=state, **fields
    )


def test_the_list_shows_kind_target_and_the_last_delivery(signed_in_admin, identity):
    folder = Destination.objects.create(name="Outbox", kind="folder", path="/srv/outbox")
    sftp = Destination.objects.create(
        name="Slate SFTP", kind="sftp", host="sftp.example.edu", port=2222, username="slate", directory="in"
    )
    s3 = Destination.objects.create(name="Lake", kind="s3", bucket="admissions", prefix="webadmit/")
    earlier = timezone.now() - timedelta(hours=2)
    delivery_to(sftp, identity, "delivered", delivered_at=earlier)
    delivery_to(sftp, identity, "failed", failed_at=timezone.now(), last_error="Authentication refused for slate")
    delivery_to(folder, identity, "delivered", delivered_at=earlier)
    delivery_to(folder, identity, "pending")  # not an outcome yet
    page = signed_in_admin.get(reverse("admin:collection_destination_changelist")).content.decode()
    assert "/srv/outbox" in page and "slate@sftp.example.edu:2222:in" in page and "s3://admissions/webadmit/" in page
    assert "Failed" in page and "Authentication refused for slate" in page
    assert page.count("Delivered ") == 1
    assert "Nothing delivered yet" in page  # the bucket
    assert s3.name in page


def test_a_delivery_rules_template_is_checked_in_words(signed_in_admin):
    destination = Destination.objects.create(name="Outbox", kind="folder", path="/srv/outbox")
    add = reverse("admin:collection_deliveryrule_add")
    form = {
        "export_name": "Nightly Banner Export",
        "destination": str(destination.pk),
        "since_0": "2026-12-01",
        "since_1": "00:00:00",
        "enabled": "on",
    }
    page = signed_in_admin.post(add, form | {"file_name": "{export}_{applicant}.csv"}).content.decode()
    assert "uses {applicant}, which is not one of" in page
    page = signed_in_admin.post(add, form | {"file_name": "{export"}).content.decode()
    assert "The file name template is not valid" in page
    assert not DeliveryRule.objects.exists()
    response = signed_in_admin.post(add, form | {"file_name": "{export}_{finished:%Y%m%d}.{ext}"})
    assert response.status_code == 302
    rule = DeliveryRule.objects.get()
    change = signed_in_admin.get(reverse("admin:collection_deliveryrule_change", args=[rule.pk])).content.decode()
    assert "Nightly_Banner_Export_20261005.csv" in change  # the example name


def test_a_rule_covering_everything_is_refused_with_the_models_words(signed_in_admin):
    add = reverse("admin:collection_collectionrule_add")
    page = signed_in_admin.post(add, {"since_0": "2026-12-01", "since_1": "00:00:00", "enabled": "on"})
    assert "Choose what the rule covers" in page.content.decode()
    assert not CollectionRule.objects.exists()


def test_a_collected_file_is_proof_with_its_trail_only_its_hold_editable(signed_in_admin, identity):
    destination = Destination.objects.create(name="Slate SFTP", kind="sftp", host="h", username="u")
    delivery = delivery_to(
        destination, identity, "delivered", delivered_at=timezone.now(), remote_name="incoming/Nightly.csv"
    )
    collected = delivery.collected
    change = reverse("admin:collection_collectedfile_change", args=[collected.pk])
    page = signed_in_admin.get(change).content.decode()
    assert "incoming/Nightly.csv" in page and "Slate SFTP" in page  # the trail
    assert 'name="hold"' in page and 'name="sha256"' not in page
    form = {
        "hold": "on",
        "hold_reason": "Records request 2026-114",
        "sha256": "00" * 32,
        "deliveries-TOTAL_FORMS": "1",
        "deliveries-INITIAL_FORMS": "1",
        "deliveries-MIN_NUM_FORMS": "0",
        "deliveries-MAX_NUM_FORMS": "1000",
    }
    assert signed_in_admin.post(change, form).status_code == 302
    collected.refresh_from_db()
    assert collected.hold and collected.hold_reason == "Records request 2026-114"
    assert collected.sha256 == "ab" * 32  # proof is not edited
    assert signed_in_admin.get(reverse("admin:collection_collectedfile_add")).status_code == 403
    delete = reverse("admin:collection_collectedfile_delete", args=[collected.pk])
    assert signed_in_admin.post(delete, {"post": "yes"}).status_code == 403


def test_deliver_again_adds_a_round_for_each_destination_from_the_archive(signed_in_admin, identity, admin_user):
    destination = Destination.objects.create(name="Outbox", kind="folder", path="/srv/outbox")
    delivered = delivery_to(destination, identity, "delivered", delivered_at=timezone.now())
    waiting = CollectedFile.objects.create(
        identity=identity,
        file_webadmit_id=9,
        export_webadmit_id=9,
        export_name="Not yet",
        finished_at=timezone.now(),
    )
    response = signed_in_admin.post(
        reverse("admin:collection_collectedfile_changelist"),
        {"action": "deliver_again", "_selected_action": [str(delivered.collected.pk), str(waiting.pk)]},
        follow=True,
    )
    page = response.content.decode()
    assert "1 deliveries queued again, from the archive." in page
    assert "1 of 2 files not queued" in page
    again = FileDelivery.objects.get(round=2)
    assert again.collected == delivered.collected and again.state == "pending" and again.requested_by == admin_user


def test_deliveries_are_listed_read_only_and_filtered_by_state_and_destination(signed_in_admin, identity):
    outbox = Destination.objects.create(name="Outbox", kind="folder", path="/srv/outbox")
    slate = Destination.objects.create(name="Slate SFTP", kind="sftp", host="h", username="u")
    delivery_to(outbox, identity, "delivered", delivered_at=timezone.now())
    delivery_to(slate, identity, "failed", failed_at=timezone.now(), last_error="Host key changed")
    changelist = reverse("admin:collection_filedelivery_changelist")

    def rows(**query: object) -> str:
        page = signed_in_admin.get(changelist, query).content.decode()
        return page.split('id="result_list"')[1].split("</table>")[0]

    assert "Host key changed" in rows(state__exact="failed") and "Outbox" not in rows(state__exact="failed")
    assert "Host key changed" not in rows(destination__id__exact=outbox.pk)
    assert signed_in_admin.get(reverse("admin:collection_filedelivery_add")).status_code == 403
