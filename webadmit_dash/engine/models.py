"""The engine's own bookkeeping: the interactive and collection calls of the last hour, which their shares of a
key's budget count (`interactive`, `collecting`)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from webadmit_dash.core.models import Credential


class InteractiveCall(models.Model):
    """One call to WebAdMIT that a person asked for (Download, Run again), kept about an hour.

    In the database rather than in each process's memory, so that every gunicorn process counts the same calls:
    what one person may ask per minute, and what a key's interactive calls may spend of its hourly budget.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, related_name="+")
    credential = models.ForeignKey(Credential, on_delete=models.CASCADE, related_name="+")
    made_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["user", "made_at"], name="interactive_call_user"),
            models.Index(fields=["credential", "made_at"], name="interactive_call_credential"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · credential {self.credential_id} · {self.made_at:%Y-%m-%d %H:%M:%S}"


class CollectionCall(models.Model):
    """One download link collection asked for, kept about an hour: what WEBADMIT_COLLECTION_SHARE counts."""

    credential = models.ForeignKey(Credential, on_delete=models.CASCADE, related_name="+")
    made_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["credential", "made_at"], name="collection_call_credential")]

    def __str__(self) -> str:
        return f"credential {self.credential_id} · {self.made_at:%Y-%m-%d %H:%M:%S}"
