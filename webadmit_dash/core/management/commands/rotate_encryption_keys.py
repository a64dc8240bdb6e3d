"""`manage.py rotate_encryption_keys`: re-encrypts every stored API key under the first ENCRYPTION_KEYS key.

Rotation: put the new key first in ENCRYPTION_KEYS (keeping the old one after it), run this, then remove the
old key.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from webadmit_dash.core import crypto
from webadmit_dash.core.models import Credential


class Command(BaseCommand):
    help = "Re-encrypts every stored WebAdMIT API key with the newest key in ENCRYPTION_KEYS."

    def handle(self, *args, **options) -> None:
        rotated = 0
        with transaction.atomic():
            for credential in Credential.objects.select_for_update().only("pk", "api_key_encrypted"):
                try:
                    token = crypto.reencrypt(credential.api_key_encrypted)
                except crypto.UndecryptableSecret as error:
                    raise CommandError(f"Credential #{credential.pk}: {error}") from None
                Credential.objects.filter(pk=credential.pk).update(api_key_encrypted=token)
                rotated += 1
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {rotated} API key(s) with the newest encryption key."))
