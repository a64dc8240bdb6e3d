"""What a webhook can reach: public addresses only unless an administrator allows the host, checked on save and
again on every call (a name that resolves elsewhere by then is refused); a shared webhook is re-pointed, tested or
deleted only by its owner or a superuser; and it carries news only to subscribers who may still see the identity."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.contrib.auth.models import Permission, User
from django.core.exceptions import ValidationError
from django.test import Client

from tests.notifications.conftest import WEBHOOK_SECRET
from tests.support.factories import grant, subscribe
from tests.support.mail import WebhookReceiver
from tests.support.waiting import SERVER_POLL_INTERVAL, free_port
from webadmit_dash.core.models import IdentityGrant
from webadmit_dash.notifications import delivery, destinations, fanout
from webadmit_dash.notifications.models import Delivery, Webhook, validate_webhook_url

NOT_PUBLIC = "non-public address, which webhooks may not reach"


@pytest.fixture
def keeper(db) -> User:
    """A staff member who may manage webhooks in the admin, and is granted no identity."""
    user = User.objects.create_user("kim", "kim@example.edu", "password", is_staff=True)
    webhook_permissions = Permission.objects.filter(
        content_type__app_label="notifications", codename__endswith="_webhook"
    )
    user.user_permissions.add(*webhook_permissions)
    return user


@pytest.fixture
def keeper_client(keeper: User) -> Client:
    client = Client()
    client.force_login(keeper)
    return client


def _webhook(url: str, owner: User | None = None, name: str = "Shared") -> Webhook:
    hook = Webhook(name=name, kind=Webhook.Kind.GENERIC, owner=owner)
    hook.set_url(url)
    hook.set_secret(WEBHOOK_SECRET)
    hook.save()
    return hook


def _send_test(client: Client, *webhooks: Webhook) -> list[str]:
    """What the admin says after "Send a test message" on these webhooks."""
    response = client.post(
        "/admin/notifications/webhook/",
        {"action": "send_test", "_selected_action": [str(hook.pk) for hook in webhooks]},
        follow=True,
    )
    return [str(message) for message in response.context["messages"]]


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://127.8.9.10/hook",
        "http://localhost:6379/",
        "https://[::1]/hook",
        "https://0.0.0.0/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.1.2.3/hook",
        "https://172.16.0.1/hook",
        "https://192.168.1.1/hook",
        "https://100.64.0.1/hook",
        "https://[fc00::1]/hook",
        "https://[fd12:3456::1]/hook",
        "https://[fe80::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[::ffff:10.0.0.1]/hook",
        "https://[64:ff9b::7f00:1]/hook",
        "https://[2002:7f00:1::]/hook",
        "https://224.0.0.1/hook",
    ],
)
def test_webhook_addresses_that_are_not_public_are_refused(settings, url):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    with pytest.raises(ValidationError, match=NOT_PUBLIC):
        validate_webhook_url(url)


def test_a_host_an_administrator_allows_may_be_loopback(settings, receiver):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    validate_webhook_url(receiver.url)
    validate_webhook_url("https://[2606:4700:4700::1111]/hook")  # a public address needs no allowance


def test_the_admin_form_says_why_a_loopback_address_is_refused(settings, keeper_client, receiver):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    response = keeper_client.post(
        "/admin/notifications/webhook/add/",
        {"name": "Probe", "kind": "generic", "url": receiver.url, "secret": WEBHOOK_SECRET},
    )
    content = response.content.decode()
    assert response.status_code == 200 and NOT_PUBLIC in content and "WEBHOOK_ALLOWED_HOSTS" in content
    assert not Webhook.objects.exists()


def test_a_staff_member_without_identities_cannot_probe_loopback_ports_with_test_messages(
    settings, keeper, keeper_client, receiver, admin_user
):
    # The administrator's webhook on this machine is not the staff member's to test.
    shared = _webhook(receiver.url, owner=admin_user)
    assert _send_test(keeper_client, shared) == ["“Shared”: only its owner or a superuser may send it a test message."]
    # Their own webhooks, on names allowed when saved, that now lead to loopback: an open port and a closed one
    # answer the same words, and nothing is sent to either.
    settings.WEBHOOK_ALLOWED_HOSTS = ["localhost"]
    open_port = _webhook(receiver.url.replace("127.0.0.1", "localhost"), owner=keeper, name="Open")
    closed_port = _webhook(f"http://localhost:{free_port()}/hook", owner=keeper, name="Closed")
    settings.WEBHOOK_ALLOWED_HOSTS = []
    [said_open], [said_closed] = (_send_test(keeper_client, hook) for hook in (open_port, closed_port))
    assert NOT_PUBLIC in said_open and said_open.replace("“Open”", "“Closed”") == said_closed
    assert receiver.received() == []


def test_a_shared_webhook_is_repointed_or_deleted_only_by_its_owner_or_a_superuser(
    keeper, keeper_client, receiver, admin_user
):
    shared = _webhook(receiver.url, owner=admin_user)
    other = WebhookReceiver().start()
    try:
        form = {"name": "Shared", "kind": "generic", "url": other.url, "secret": "", "enabled": "on", "offered": "on"}
        response = keeper_client.post(f"/admin/notifications/webhook/{shared.pk}/change/", form)
        assert response.status_code == 403
        response = keeper_client.post(f"/admin/notifications/webhook/{shared.pk}/delete/", {"post": "yes"})
        assert response.status_code == 403
        keeper_client.post(
            "/admin/notifications/webhook/",
            {"action": "delete_selected", "_selected_action": [shared.pk], "post": "yes"},
        )
        shared.refresh_from_db()
        assert shared.get_url() == receiver.url

        # Their own they may change; and a superuser may change anyone's.
        added = keeper_client.post(
            "/admin/notifications/webhook/add/", {**form, "name": "Mine", "secret": WEBHOOK_SECRET}
        )
        assert added.status_code == 302
        mine = Webhook.objects.get(name="Mine")
        assert mine.owner == keeper
        changed = keeper_client.post(f"/admin/notifications/webhook/{mine.pk}/change/", {**form, "name": "Mine"})
        assert changed.status_code == 302
        admin = Client()
        admin.force_login(admin_user)
        assert admin.post(f"/admin/notifications/webhook/{shared.pk}/change/", form).status_code == 302
        shared.refresh_from_db()
        assert shared.get_url() == other.url
    finally:
        other.stop()


class _Hosts:
    """A hosts file in front of the names webhooks resolve: what a DNS server answering differently over time
    would say. Names it does not list resolve for real."""

    def __init__(self, real_resolve: Callable[[str, int], list[tuple[int, tuple[Any, ...]]]]) -> None:
        self.table: dict[str, list[str]] = {}
        self.real_resolve = real_resolve

    def resolve(self, host: str, port: int) -> list[tuple[int, tuple[Any, ...]]]:
        if host not in self.table:
            return self.real_resolve(host, port)
        return [
            (socket.AF_INET6, (address, port, 0, 0)) if ":" in address else (socket.AF_INET, (address, port))
            for address in self.table[host]
        ]


@pytest.fixture
def hosts(monkeypatch) -> _Hosts:
    table = _Hosts(destinations.resolve)
    monkeypatch.setattr(destinations, "resolve", table.resolve)
    return table


def test_a_name_that_resolves_to_loopback_when_sending_is_refused_for_good(upstream, receiver, hosts):
    port = receiver.url.split(":")[2].split("/")[0]
    hosts.table["hooks.example.edu"] = ["93.184.215.14"]  # public when saved
    hook = _webhook(f"https://hooks.example.edu:{port}/hook")
    user = User.objects.create_user("lou", "", "password")
    grant(user, upstream.identities[0])
    subscribe(user, email=False, webhooks=[hook])
    hosts.table["hooks.example.edu"] = ["127.0.0.1"]  # rebound by the time it is sent
    upstream.finish(upstream.new_run(upstream.identities[0]), "Available")
    fanout.fan_out()
    result = delivery.deliver_due()
    assert (result.failed, result.retrying) == (1, 0), result
    refused = Delivery.objects.get()
    assert refused.state == "failed" and NOT_PUBLIC in refused.last_error and refused.attempts == 1
    assert receiver.received() == []


def test_a_name_resolving_to_a_public_and_a_private_address_is_refused(settings, hosts):
    hosts.table["split.example.edu"] = ["93.184.215.14", "10.0.0.7"]
    with pytest.raises(ValidationError, match=NOT_PUBLIC):
        validate_webhook_url("https://split.example.edu/hook")


def test_news_about_an_identity_does_not_reach_the_webhook_of_a_subscriber_who_lost_access(upstream, receiver, webhook):
    user = User.objects.create_user("mo", "", "password")
    grant(user, upstream.identities[0])
    subscribe(user, email=False, webhooks=[webhook])
    upstream.finish(upstream.new_run(upstream.identities[0]), "Available")
    fanout.fan_out()
    IdentityGrant.objects.filter(user=user).delete()
    delivery.deliver_due()
    assert receiver.received() == []
    assert Delivery.objects.get().state == "cancelled"


def test_a_webhook_owned_by_a_staff_member_carries_news_only_of_identities_they_may_see(upstream, receiver, keeper):
    # The staff member's webhook is offered to everyone; someone who sees the identity chooses it.
    hook = _webhook(receiver.url, owner=keeper)
    user = User.objects.create_user("nia", "", "password")
    grant(user, upstream.identities[0])
    subscribe(user, email=False, webhooks=[hook])
    upstream.finish(upstream.new_run(upstream.identities[0]), "Available")
    fanout.fan_out()
    delivery.deliver_due()
    assert receiver.received() == []
    cancelled = Delivery.objects.get()
    assert cancelled.state == "cancelled" and "owner may not see this identity" in cancelled.last_error

    grant(keeper, upstream.identities[0])
    upstream.finish(upstream.new_run(upstream.identities[0]), "Failed")
    fanout.fan_out()
    delivery.deliver_due()
    assert [call.json()["type"] for call in receiver.received()] == ["file.failed"]


def test_a_subscription_given_to_someone_else_before_sending_does_not_carry_the_news(upstream, receiver, webhook):
    user = User.objects.create_user("ola", "", "password")
    grant(user, upstream.identities[0])
    subscription = subscribe(user, email=False, webhooks=[webhook])
    upstream.finish(upstream.new_run(upstream.identities[0]), "Available")
    fanout.fan_out()
    # An administrator hands the subscription to someone who may not see the identity.
    subscription.user = User.objects.create_user("pat", "", "password")
    subscription.save()
    delivery.deliver_due()
    assert receiver.received() == []
    assert Delivery.objects.get().state == "cancelled"


def _self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """An https server on 127.0.0.1 whose certificate names localhost: (its port, the certificate to trust)."""
    cert_path, key_path = _self_signed(tmp_path, "localhost")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": SERVER_POLL_INTERVAL}, daemon=True).start()
    try:
        yield server.server_address[1], cert_path
    finally:
        server.shutdown()
        server.server_close()


def test_https_to_a_checked_address_still_verifies_the_certificate_against_the_name(settings, tls_receiver):
    port, certificate = tls_receiver
    settings.WEBHOOK_ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
    with destinations.session() as session:
        answer = session.post(f"https://localhost:{port}/hook", data=b"{}", verify=str(certificate), timeout=5)
        assert answer.status_code == 204
        # The same server by its address: the certificate does not name it, and that is still refused.
        with pytest.raises(requests.exceptions.SSLError):
            session.post(f"https://127.0.0.1:{port}/hook", data=b"{}", verify=str(certificate), timeout=5)
