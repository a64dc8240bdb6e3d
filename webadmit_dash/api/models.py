"""Per-user API tokens: what a script sends as `Authorization: Bearer …` to act as its user: read-only, unless its
user chose, when making it, that it may also act (Deliver again)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    """One token of one user. Only a hash of it is stored; the token itself is shown once, when it is made."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. 'SIS reconciliation script'.")
    # The first characters, so a person can tell their tokens apart (and find one in a script) without the secret.
    prefix = models.CharField(max_length=16)
    # SHA-256 of the whole token, hex: tokens are 256 random bits, so a fast hash is as safe as a slow one and
    # lets a request find its token by an indexed equality lookup.
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Chosen when the token is made, never widened later: tokens made before there was anything to do stay read-only.
    can_act = models.BooleanField(
        "may act", default=False, help_text="Besides reading, may ask for what the pages' buttons do (Deliver again)."
    )

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def active(self) -> bool:
        return self.revoked_at is None
