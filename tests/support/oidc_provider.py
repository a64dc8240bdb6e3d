"""A small OpenID Connect provider for the sign-in tests, over real HTTP on a loopback port.

It implements the authorization-code flow as a campus identity provider does (with PKCE and a nonce): /authorize
approves at once as the person the test chose and redirects back with a code; /token checks the client's secret,
the redirect address and the PKCE verifier, and answers an RS256-signed ID token; /userinfo answers the person's
claims for the access token; /jwks publishes the signing key. Nothing is faked on our side: mozilla-django-oidc
talks to it exactly as it would to Shibboleth's, Azure AD's or Keycloak's.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.waiting import SERVER_POLL_INTERVAL


class OIDCProvider:
    def __init__(self, client_id: str, client_secret: str) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.person: dict[str, Any] = {}
        self.audience: str | None = None  # whom ID tokens are for: this client unless a test says otherwise
        self.clock_offset = 0  # seconds the provider's clock is ahead of ours (negative: behind)
        self.lifetime = 300  # seconds an ID token is valid for
        self.algorithm = "RS256"  # "none": an unsigned token, as an attacker would send
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._codes: dict[str, dict[str, Any]] = {}
        self._tokens: dict[str, dict[str, Any]] = {}
        self.token_requests: list[dict[str, str]] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                provider._get(self)

            def do_POST(self) -> None:
                provider._post(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": SERVER_POLL_INTERVAL}, daemon=True
        )

    def settings(self) -> dict[str, str]:
        """The OIDC_* settings a deployment would take from this provider's discovery document."""
        return {
            "OIDC_RP_CLIENT_ID": self.client_id,
            "OIDC_RP_CLIENT_SECRET": self.client_secret,
            "OIDC_OP_AUTHORIZATION_ENDPOINT": f"{self.url}/authorize",
            "OIDC_OP_TOKEN_ENDPOINT": f"{self.url}/token",
            "OIDC_OP_USER_ENDPOINT": f"{self.url}/userinfo",
            "OIDC_OP_JWKS_ENDPOINT": f"{self.url}/jwks",
        }

    def sign_in_as(self, **claims: Any) -> None:
        self.person = claims

    # --- HTTP --------------------------------------------------------------------------------------------------

    def _answer(
        self, handler: BaseHTTPRequestHandler, status: int, body: Any = None, headers: dict | None = None
    ) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        handler.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _get(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        if parts.path == "/authorize":
            if query.get("client_id") != self.client_id or query.get("response_type") != "code":
                return self._answer(handler, 400, {"error": "invalid_request"})
            code = secrets.token_urlsafe(16)
            self._codes[code] = {**query, "claims": dict(self.person)}
            target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
            return self._answer(handler, 302, headers={"Location": target})
        if parts.path == "/userinfo":
            token = handler.headers.get("Authorization", "").removeprefix("Bearer ")
            if token not in self._tokens:
                return self._answer(handler, 401, {"error": "invalid_token"})
            return self._answer(handler, 200, self._tokens[token])
        if parts.path == "/jwks":
            key = jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
            return self._answer(handler, 200, {"keys": [{**key, "kid": "test-key", "alg": "RS256", "use": "sig"}]})
        return self._answer(handler, 404, {"error": "not_found"})

    def _post(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length", "0"))
        form = {name: values[0] for name, values in parse_qs(handler.rfile.read(length).decode()).items()}
        self.token_requests.append(form)
        if urlsplit(handler.path).path != "/token":
            return self._answer(handler, 404, {"error": "not_found"})
        grant = self._codes.pop(form.get("code", ""), None)
        if (
            grant is None
            or form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
            or form.get("redirect_uri") != grant["redirect_uri"]
        ):
            return self._answer(handler, 400, {"error": "invalid_grant"})
        if "code_challenge" in grant:
            digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["code_challenge"]:
                return self._answer(handler, 400, {"error": "invalid_grant", "error_description": "PKCE"})
        claims = grant["claims"]
        now = int(time.time()) + self.clock_offset
        id_token = jwt.encode(
            {"iss": self.url, "aud": self.audience or self.client_id, "sub": claims.get("sub", "x"), "iat": now,
             "exp": now + self.lifetime, "nonce": grant.get("nonce")},
            None if self.algorithm == "none" else self._key,
            algorithm=self.algorithm,
            headers=None if self.algorithm == "none" else {"kid": "test-key"},
        )  # fmt: skip
        access_token = secrets.token_urlsafe(16)
        self._tokens[access_token] = claims
        return self._answer(handler, 200, {"access_token": access_token, "id_token": id_token, "token_type": "Bearer"})

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


def configure_sign_in_with(provider: OIDCProvider, settings: Any) -> None:
    """What the OIDC_* variables configure (settings.py), pointed at this provider; `settings` is pytest-django's."""
    for name, value in provider.settings().items():
        setattr(settings, name, value)
    settings.OIDC_ENABLED = True
    settings.OIDC_RP_SIGN_ALGO = "RS256"
    settings.OIDC_RP_SCOPES = "openid email profile"
    settings.OIDC_USERNAME_CLAIM = "preferred_username"
    settings.OIDC_GROUPS_CLAIM = "groups"
    settings.OIDC_USE_PKCE = True
    settings.OIDC_TIMEOUT = 5
    settings.OIDC_CLOCK_LEEWAY = 60
    settings.LOGIN_REDIRECT_URL_FAILURE = "/accounts/login/"
    settings.AUTHENTICATION_BACKENDS = [
        "webadmit_dash.accounts.oidc.CampusOIDCBackend",
        "django.contrib.auth.backends.ModelBackend",
    ]
    settings.ROOT_URLCONF = "tests.accounts.oidc_urls"
