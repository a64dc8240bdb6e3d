"""Sign-in, metrics and health are configured by environment variables, off by default, with one clear line for a
bad value."""

from __future__ import annotations

import pytest

from tests.foundation.test_configuration import run_manage
from webadmit_dash.config import ConfigError, Env

OIDC = {
    "OIDC_RP_CLIENT_ID": "webadmit-dash",
    "OIDC_RP_CLIENT_SECRET": "s3cret",
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "https://idp.example.edu/authorize",
    "OIDC_OP_TOKEN_ENDPOINT": "https://idp.example.edu/token",
    "OIDC_OP_USER_ENDPOINT": "https://idp.example.edu/userinfo",
    "OIDC_OP_JWKS_ENDPOINT": "https://idp.example.edu/jwks",
}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"REMOTE_USER_HEADER": "X-Remote-User"}, "REMOTE_USER_PROXIES: required with REMOTE_USER_HEADER"),
        ({"REMOTE_USER_HEADER": "X Remote User!", "REMOTE_USER_PROXIES": "10.0.0.1"}, "REMOTE_USER_HEADER: "),
        ({"REMOTE_USER_HEADER": "X-Remote-User", "REMOTE_USER_PROXIES": "10.0.0.300"},
         "REMOTE_USER_PROXIES: '10.0.0.300'"),
        ({"LOCAL_PASSWORDS": "false"}, "LOCAL_PASSWORDS: cannot be false unless"),
        ({"OIDC_RP_CLIENT_ID": "webadmit-dash"}, "OIDC_RP_CLIENT_SECRET: required with OIDC_RP_CLIENT_ID"),
        ({**OIDC, "OIDC_RP_SIGN_ALGO": "none"}, "OIDC_RP_SIGN_ALGO: expected one of"),
        ({"METRICS_ALLOWED_IPS": "prometheus.internal"}, "METRICS_ALLOWED_IPS: 'prometheus.internal' is not an IP"),
        ({"BEAT_LATE_AFTER": "soon"}, "BEAT_LATE_AFTER: expected a whole number"),
        ({"BEHIND_TLS_PROXY": "true"}, "TRUSTED_PROXIES: required with BEHIND_TLS_PROXY=true"),
        ({"BEHIND_TLS_PROXY": "true", "TRUSTED_PROXIES": "proxy"}, "TRUSTED_PROXIES: 'proxy' is not an IP"),
    ],
)  # fmt: skip
def test_bad_sign_in_or_operations_settings_name_the_variable(tmp_path, env, expected):
    result = run_manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert expected in result.stderr
    assert "s3cret" not in result.stderr


def test_campus_sign_in_configured_from_the_environment_passes_the_checks(tmp_path):
    env = {**OIDC, "REMOTE_USER_HEADER": "X-Remote-User", "REMOTE_USER_PROXIES": "10.0.5.0/24,::1",
           "REMOTE_GROUPS_HEADER": "X-Remote-Groups", "LOCAL_PASSWORDS": "false"}  # fmt: skip
    code = (
        "from django.conf import settings; from django.urls import reverse; "
        "print(settings.AUTHENTICATION_BACKENDS, settings.REMOTE_USER_HEADER, reverse('oidc_authentication_init'))"
    )
    result = run_manage("shell", "-c", code, env=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "TrustedProxyBackend" in result.stdout and "CampusOIDCBackend" in result.stdout
    assert "ModelBackend" not in result.stdout
    assert "HTTP_X_REMOTE_USER /oidc/authenticate/" in result.stdout


@pytest.mark.parametrize(
    ("raw", "meta"),
    [("X-Remote-User", "HTTP_X_REMOTE_USER"), ("HTTP_X_REMOTE_USER", "HTTP_X_REMOTE_USER"),
     ("REMOTE_USER", "REMOTE_USER"), ("x-forwarded-groups", "HTTP_X_FORWARDED_GROUPS"), ("", "")],
)  # fmt: skip
def test_a_header_is_named_as_django_sees_it(raw, meta):
    assert Env({"H": raw}).header("H") == meta


def test_networks_accept_addresses_and_ranges():
    networks = Env({"N": "10.0.0.5, 10.1.0.0/16 ,::1"}).networks("N")
    assert [str(network) for network in networks] == ["10.0.0.5/32", "10.1.0.0/16", "::1/128"]
    with pytest.raises(ConfigError, match="N: 'ten' is not an IP address"):
        Env({"N": "ten"}).networks("N")
