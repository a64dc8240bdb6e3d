"""Demo data for `make run`: a credential pointing at the bundled simulator, its identities, an admin user, and one
export collected and delivered to a folder (DATA_DIR/outbox), so files are seen arriving there."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model

from webadmit_dash.collection.models import DeliveryRule, Destination
from webadmit_dash.core.models import Credential, UserIdentity
from webadmit_dash.engine import credentials
from webadmit_dash.notifications.models import EventKind, Subscription

DEMO_CREDENTIAL_NAME = "Demo (simulator)"
DEMO_USERNAME = "admin"
DEMO_DESTINATION_NAME = "Demo outbox"
# The demo export: the first identity's CSV export (the simulator gives each identity one of each format, and its
# most frequent runs are of the first, the CSV).
DEMO_FORMAT = "Comma-Separated Values"


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    created: bool
    saved_in: Path


def ensure_demo_credential(base_url: str, api_key: str) -> Credential:
    """Creates the demo credential on first run and (re)imports its identities from the simulator.

    The credential is the simulator's: when runstack starts it on another port than last time (`--simulator-port`),
    the credential follows it, rather than the stack refusing to start over an address nothing answers any more.
    Identities the import adds watch their PDF Manager batches, so the demo shows batches beside files; an
    administrator who turns that off later is not overruled.
    """
    credential = Credential.objects.filter(name=DEMO_CREDENTIAL_NAME).first()
    if credential is None:
        credential = Credential(name=DEMO_CREDENTIAL_NAME, base_url=base_url)
        credential.set_api_key(api_key)
        credential.save()
    elif credential.base_url != base_url:
        credential.base_url = base_url
        credential.save(update_fields=["base_url"])
    known = set(UserIdentity.objects.filter(credential=credential).values_list("pk", flat=True))
    credentials.import_identities(credential)
    UserIdentity.objects.filter(credential=credential).exclude(pk__in=known).update(watch_pdf_batches=True)
    return credential


DEMO_EMAIL = "admin@localhost"


def ensure_demo_subscription() -> bool:
    """Subscribes the demo admin to every event of every identity, by e-mail, unless they chose for themselves:
    with no EMAIL_HOST the messages land in DATA_DIR/mail/, where a newcomer sees them arrive."""
    admin = get_user_model().objects.filter(username=DEMO_USERNAME).first()
    if admin is None or Subscription.objects.filter(user=admin).exists():
        return False
    if not admin.email:
        admin.email = DEMO_EMAIL
        admin.save(update_fields=["email"])
    Subscription.objects.create(user=admin, all_identities=True, events=list(EventKind.values), email=True)
    return True


def ensure_demo_admin() -> DemoLogin:
    """Creates a superuser with a random password on first run; the password is kept owner-only in DATA_DIR.

    Keeping it lets `make run` print it again on later runs, until someone changes it.
    """
    password_file = Path(settings.DATA_DIR) / "demo-admin-password"
    user_model = get_user_model()
    if user_model.objects.filter(username=DEMO_USERNAME).exists():
        password = password_file.read_text(encoding="utf-8").strip() if password_file.exists() else ""
        return DemoLogin(DEMO_USERNAME, password, created=False, saved_in=password_file)
    password = secrets.token_urlsafe(12)
    user_model.objects.create_superuser(DEMO_USERNAME, email=DEMO_EMAIL, password=password)
    password_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(password + "\n")
    return DemoLogin(DEMO_USERNAME, password, created=True, saved_in=password_file)


@dataclass(frozen=True)
class DemoDelivery:
    export_name: str
    identity: str
    folder: Path
    created: bool


def demo_outbox() -> Path:
    return Path(settings.DATA_DIR) / "outbox"


def ensure_demo_delivery(credential: Credential) -> DemoDelivery | None:
    """On first run, a folder destination in DATA_DIR/outbox and a rule delivering the demo export there (which
    collects it too): its files that are ready now, and those that turn Available later, arrive within a minute.

    Made once: an administrator who changes or deletes the destination or its rule later is not overruled. Asks the
    simulator for the identity's exports (one E3 call), since the worker has not listed them yet on a first run.
    """
    folder = demo_outbox()
    destination = Destination.objects.filter(name=DEMO_DESTINATION_NAME).first()
    if destination is not None:
        rule = destination.rules.select_related("identity").first()
        if rule is None or rule.identity is None:
            return None
        return DemoDelivery(rule.export_name, rule.identity.display_name, Path(destination.path), created=False)
    identity = UserIdentity.objects.filter(credential=credential).order_by("pk").first()
    if identity is None:
        return None
    with credentials.client_for(credential) as client:
        exports = client.list_exports(identity.webadmit_id)
    export = next((each for each in exports if each.format == DEMO_FORMAT), exports[0] if exports else None)
    if export is None:
        return None
    # Owner-only, like the rest of DATA_DIR: these are (simulated) applicants' records.
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    destination = Destination.objects.create(name=DEMO_DESTINATION_NAME, kind=Destination.Kind.FOLDER, path=str(folder))
    DeliveryRule.objects.create(identity=identity, export_name=export.name, destination=destination)
    return DemoDelivery(export.name, identity.display_name, folder, created=True)
