"""Demo data for `make run`: a credential pointing at the bundled simulator, its identities, an admin user."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model

from webadmit_dash.core.models import Credential
from webadmit_dash.engine import credentials
from webadmit_dash.notifications.models import EventKind, Subscription

DEMO_CREDENTIAL_NAME = "Demo (simulator)"
DEMO_USERNAME = "admin"


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
    """
    credential = Credential.objects.filter(name=DEMO_CREDENTIAL_NAME).first()
    if credential is None:
        credential = Credential(name=DEMO_CREDENTIAL_NAME, base_url=base_url)
        credential.set_api_key(api_key)
        credential.save()
    elif credential.base_url != base_url:
        credential.base_url = base_url
        credential.save(update_fields=["base_url"])
    credentials.import_identities(credential)
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
