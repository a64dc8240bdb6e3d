"""`manage.py rotate_encryption_keys`: re-encrypts every stored secret (API keys, webhook addresses and secrets,
destinations' secrets, and the data keys of archived files) under the first ENCRYPTION_KEYS key. Archived files
themselves are not rewritten: each is encrypted under a data key of its own, and only that key's wrapping changes.

Rotation: put the new key first in ENCRYPTION_KEYS (keeping the old one after it), run this, then remove the
old key.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from webadmit_dash.core import crypto


class Command(BaseCommand):
    help = (
        "Re-encrypts every stored secret (WebAdMIT API keys, webhooks, destinations, archived files' data keys) "
        "with the newest key in ENCRYPTION_KEYS."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        rotated = 0
        with transaction.atomic():
            for model, fields in crypto.ENCRYPTED_FIELDS:
                for pk, *tokens in model._default_manager.select_for_update().values_list("pk", *fields):
                    try:
                        new = {
                            field: crypto.reencrypt(token) if token else token  # blank: no secret was set
                            for field, token in zip(fields, tokens, strict=True)
                        }
                    except crypto.UndecryptableSecret as error:
                        raise CommandError(f"{model._meta.label} #{pk}: {error}") from None
                    model._default_manager.filter(pk=pk).update(**new)
                    rotated += 1
        self.stdout.write(
            self.style.SUCCESS(f"Re-encrypted {rotated} stored secret(s) with the newest encryption key.")
        )
