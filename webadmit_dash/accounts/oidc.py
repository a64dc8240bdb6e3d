"""Sign-in with OpenID Connect (mozilla-django-oidc), configured by the OIDC_* environment variables.

People are matched to users by a claim that is their campus user name (OIDC_USERNAME_CLAIM, `preferred_username`
by default), not by e-mail as the library does by default: two people can share an address, and a user name is
what the proxy header and the admin use too. With OIDC_GROUPS_CLAIM, each sign-in sets their groups (groups.py).

Whatever goes wrong between the provider's answer and the signed-in person (a token that does not verify, a
provider that does not answer, a name this site refuses: campus.py) ends on the sign-in page with a message in
words and a line in the log, never an error page.
"""

from __future__ import annotations

from typing import Any

import jwt
import requests
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import SuspiciousOperation
from django.db.models import QuerySet
from django.http import HttpRequest
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from webadmit_dash.accounts.campus import SignInRefused, check_campus_may_use, e_mail, refuse, user_name
from webadmit_dash.accounts.groups import sync_groups
from webadmit_dash.core.text import clean

PROVIDER_ANSWER_REFUSED = (
    "Your campus sign-in could not be completed: the answer from the identity provider did not pass this site's "
    "checks. Try again; if it keeps happening, tell your administrator (the reason is in the site's log)."
)
PROVIDER_UNREACHABLE = (
    "Your campus sign-in could not be completed: the identity provider did not answer as expected. Try again in "
    "a minute; if it keeps happening, tell your administrator."
)
NAME_MAX_LENGTH = 150  # first_name and last_name columns


class CampusOIDCBackend(OIDCAuthenticationBackend):
    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> User | None:
        if request is None:
            return None
        try:
            user: User | None = super().authenticate(request, **kwargs)
            return user
        except requests.RequestException as exc:
            refusal = SignInRefused(PROVIDER_UNREACHABLE, f"the provider's answer failed ({type(exc).__name__})")
        except SignInRefused as exc:
            refusal = exc
        refuse(request, refusal, via="OpenID Connect")
        # The callback redirects to the sign-in page: the message goes with the session.
        messages.error(request, refusal.message)
        return None

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        try:
            payload: dict[str, Any] = super().verify_token(token, **kwargs)
        except (jwt.InvalidTokenError, SuspiciousOperation, KeyError, ValueError) as exc:
            # A wrong signature, a wrong algorithm (`none` included), an expired token, a missing key id...
            reason = f"the ID token was refused ({type(exc).__name__}: {exc})"
            raise SignInRefused(PROVIDER_ANSWER_REFUSED, reason) from None
        # The library leaves the audience unchecked: an ID token the provider issued to another of the campus's
        # applications must not sign anyone in here.
        audience = payload.get("aud")
        if self.OIDC_RP_CLIENT_ID not in (audience if isinstance(audience, list) else [audience]):
            raise SignInRefused(PROVIDER_ANSWER_REFUSED, "the ID token was issued for another application (aud)")
        return payload

    def get_payload_data(self, token: str, key: Any) -> dict[str, Any]:
        """The token's claims, its signature verified with the configured algorithm only (never `none`).

        The library's own check allows no difference between the provider's clock and ours: a provider one second
        ahead issues tokens "not yet valid" (iat), and every sign-in failed. OIDC_CLOCK_LEEWAY seconds are allowed
        on iat, nbf and exp alike.
        """
        algorithm = jwt.get_unverified_header(token).get("alg")
        if algorithm != self.OIDC_RP_SIGN_ALGO:
            raise SuspiciousOperation(f"The ID token is signed with {algorithm!r}, not {self.OIDC_RP_SIGN_ALGO}.")
        return jwt.decode(
            token,
            key,
            algorithms=[self.OIDC_RP_SIGN_ALGO],
            options={"verify_aud": False},  # checked in verify_token, for lists of audiences too
            leeway=settings.OIDC_CLOCK_LEEWAY,
        )

    def _username(self, claims: dict[str, Any]) -> str:
        value = claims.get(settings.OIDC_USERNAME_CLAIM)
        return user_name(value if isinstance(value, str) else "")

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        return bool(self._username(claims))  # or SignInRefused, saying what is wrong with it

    def filter_users_by_claims(self, claims: dict[str, Any]) -> QuerySet[User]:
        users = User.objects.filter(username=self._username(claims))
        for user in users:
            check_campus_may_use(user)
        return users

    def create_user(self, claims: dict[str, Any]) -> User:
        user = User.objects.create_user(self._username(claims), email=e_mail(claims.get("email")))
        return self.update_user(user, claims)

    def update_user(self, user: User, claims: dict[str, Any]) -> User:
        values = {
            "email": e_mail(claims.get("email")),
            "first_name": self._name(claims.get("given_name")),
            "last_name": self._name(claims.get("family_name")),
        }
        changed = [field for field, value in values.items() if value and getattr(user, field) != value]
        for field in changed:
            setattr(user, field, values[field])
        if changed:
            user.save(update_fields=changed)
        if settings.OIDC_GROUPS_CLAIM:
            groups = claims.get(settings.OIDC_GROUPS_CLAIM) or []
            if isinstance(groups, str):
                groups = [groups]
            sync_groups(user, [name for name in groups if isinstance(name, str)])
        return user

    @staticmethod
    def _name(value: object) -> str:
        """A given or family name: shown, never matched, so cut to its column rather than refused."""
        return clean(value, NAME_MAX_LENGTH) if isinstance(value, str) else ""
