"""Sign-in with OpenID Connect (mozilla-django-oidc), configured by the OIDC_* environment variables.

People are matched to users by a claim that is their campus user name (OIDC_USERNAME_CLAIM, `preferred_username`
by default), not by e-mail as the library does by default: two people can share an address, and a user name is
what the proxy header and the admin use too. With OIDC_GROUPS_CLAIM, each sign-in sets their groups (groups.py).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import SuspiciousOperation
from django.db.models import QuerySet
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from webadmit_dash.accounts.groups import sync_groups


class CampusOIDCBackend(OIDCAuthenticationBackend):
    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        payload = super().verify_token(token, **kwargs)
        # The library leaves the audience unchecked: an ID token the provider issued to another of the campus's
        # applications must not sign anyone in here.
        audience = payload.get("aud")
        if self.OIDC_RP_CLIENT_ID not in (audience if isinstance(audience, list) else [audience]):
            raise SuspiciousOperation("The ID token was issued for another application (aud).")
        return payload

    def _username(self, claims: dict[str, Any]) -> str:
        value = claims.get(settings.OIDC_USERNAME_CLAIM)
        return value.strip()[:150] if isinstance(value, str) else ""

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        return bool(self._username(claims))

    def filter_users_by_claims(self, claims: dict[str, Any]) -> QuerySet[User]:
        username = self._username(claims)
        if not username:
            return User.objects.none()
        return User.objects.filter(username=username)

    def create_user(self, claims: dict[str, Any]) -> User:
        user = User.objects.create_user(self._username(claims), email=claims.get("email") or "")
        return self.update_user(user, claims)

    def update_user(self, user: User, claims: dict[str, Any]) -> User:
        changed = []
        for field, claim in (("email", "email"), ("first_name", "given_name"), ("last_name", "family_name")):
            value = claims.get(claim)
            if isinstance(value, str) and value and getattr(user, field) != value[:150]:
                setattr(user, field, value[:150])
                changed.append(field)
        if changed:
            user.save(update_fields=changed)
        if settings.OIDC_GROUPS_CLAIM:
            groups = claims.get(settings.OIDC_GROUPS_CLAIM) or []
            if isinstance(groups, str):
                groups = [groups]
            sync_groups(user, [name for name in groups if isinstance(name, str)])
        return user
