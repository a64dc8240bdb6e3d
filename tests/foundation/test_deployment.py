"""The production path that compose.yaml ships: Caddy terminates TLS in front of gunicorn, the web port is published
on this machine's loopback only, and .env.example names what an operator fills in (issue 19, points 8 and 13).

Docker cannot run here: compose.yaml is read as YAML and checked for what matters, and the Caddyfile is run for real
by Debian's caddy in front of the production gunicorn (skipped, saying so, where caddy is not installed).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from django.conf import settings
from django.contrib.auth.models import User

from tests.support.processes import stop_process
from tests.support.waiting import free_port
from tests.support.webserver import GunicornServer

PROJECT_ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((PROJECT_ROOT / "compose.yaml").read_text())
CADDY = shutil.which("caddy")


def published(service: dict) -> list[str]:
    return [str(port) for port in service.get("ports", [])]


def test_compose_puts_a_tls_proxy_in_front_of_web_and_publishes_nothing_else_beyond_this_machine():
    services = COMPOSE["services"]
    proxy = services["proxy"]
    assert proxy["image"].startswith("caddy:")
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    assert sorted(published(proxy)) == ["443:443", "80:80"]
    for name, service in services.items():
        if name != "proxy":
            assert all(port.startswith("127.0.0.1:") for port in published(service)), f"{name}: {published(service)}"
    assert published(services["web"]) == ["127.0.0.1:8000:8000"]


def test_compose_web_believes_forwarded_addresses_from_the_proxy_alone():
    app_environment = COMPOSE["x-app"]["environment"]
    assert app_environment["BEHIND_TLS_PROXY"] == "true"
    proxy_address = COMPOSE["services"]["proxy"]["networks"]["edge"]["ipv4_address"]
    assert app_environment["TRUSTED_PROXIES"] == proxy_address
    # Only web and the proxy are on the edge network: nothing else can come from an address in it.
    on_edge = [name for name, service in COMPOSE["services"].items() if "edge" in service.get("networks", [])]
    assert sorted(on_edge) == ["proxy", "web"]


def test_compose_runs_a_collector_on_the_collection_queue_alone_sharing_the_archive_with_web():
    services = COMPOSE["services"]
    collector = services["collector"]["command"]
    assert collector[:4] == ["celery", "-A", "webadmit_dash", "worker"]
    assert "--pool=threads" in collector and "--concurrency=4" in collector
    assert collector[collector.index("-Q") + 1] == settings.COLLECTION_QUEUE
    # The refresh worker keeps the default queue: no download ever waits in front of a refresh.
    assert "-Q" not in services["worker"]["command"]
    archive = "archive:/data/archive"
    assert archive in services["collector"]["volumes"] and archive in services["web"]["volumes"]
    assert "archive" in COMPOSE["volumes"]
    assert services["collector"]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert "collector@$$HOSTNAME" in " ".join(services["collector"]["healthcheck"]["test"])


def test_env_example_names_every_variable_compose_reads_and_no_secret_value():
    example = (PROJECT_ROOT / ".env.example").read_text()
    names = set(re.findall(r"^([A-Z_]+)=", example, flags=re.MULTILINE))
    compose_reads = set(re.findall(r"\$\{([A-Z_]+)", (PROJECT_ROOT / "compose.yaml").read_text()))
    assert compose_reads <= names
    assert {"DJANGO_ENV", "ALLOWED_HOSTS", "EMAIL_HOST", "SITE_ADDRESS"} <= names
    assert "generate_secrets >> .env" in example
    for line in example.splitlines():
        if re.match(r"^(POSTGRES_PASSWORD|EMAIL_HOST_PASSWORD|METRICS_TOKEN|DJANGO_SECRET_KEY|ENCRYPTION_KEYS)=", line):
            assert line.endswith("="), f"an example holds no secret: {line}"
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in names), "every variable is in the README's table"


@contextlib.contextmanager
def caddy_in_front_of(upstream: str, home: Path) -> Iterator[tuple[str, str, Path]]:
    """The repository's Caddyfile, run by caddy on free ports for `localhost`; yields the https and http base URLs
    and the local CA's root certificate, which the test trusts as a browser would once told to."""
    https_port, http_port = free_port(), free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "SITE_ADDRESS": "localhost",
        "HTTPS_PORT": str(https_port),
        "HTTP_PORT": str(http_port),
        "WEB_UPSTREAM": upstream,
    }
    log = (home / "caddy.log").open("w")
    process = subprocess.Popen(
        [str(CADDY), "run", "--config", str(PROJECT_ROOT / "Caddyfile"), "--adapter", "caddyfile"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    root = home / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
    https = f"https://localhost:{https_port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (home / "caddy.log").read_text()
            if root.exists():
                with contextlib.suppress(requests.RequestException):
                    requests.get(f"{https}/healthz", verify=str(root), timeout=2)
                    break
            assert time.monotonic() < deadline, (home / "caddy.log").read_text()
            time.sleep(0.2)
        yield https, f"http://localhost:{http_port}", root
    finally:
        stop_process(process)
        log.close()


def require_caddy() -> None:
    """make test installs Debian's caddy where it can: a laptop without it skips, saying so; CI fails instead."""
    if CADDY is not None:
        return
    message = "caddy is not installed (sudo apt-get install caddy): the TLS proxy is not tried"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true, so this is a failure, not a skip)")
    pytest.skip(message)


@pytest.mark.django_db(transaction=True)
def test_through_the_proxy_the_production_web_server_serves_https_and_signs_people_in(tmp_path):
    require_caddy()
    User.objects.create_user("erin", "erin@example.edu", "correct horse battery")
    production = {
        "DJANGO_ENV": "production",
        "DJANGO_SECRET_KEY": "p" * 60,
        "ENCRYPTION_KEYS": settings.ENCRYPTION_KEYS[0],
        "ALLOWED_HOSTS": "localhost",
        "EMAIL_HOST": "smtp.example.edu",
        "BEHIND_TLS_PROXY": "true",
        "TRUSTED_PROXIES": "127.0.0.1",
    }
    with (
        GunicornServer(workers=1, env=production) as web,
        caddy_in_front_of(web.url[7:], tmp_path) as (
            https,
            http,
            root,
        ),
    ):
        page = requests.get(f"{https}/accounts/login/", verify=str(root), timeout=10)
        assert page.status_code == 200, page.text[:500]
        assert 'name="password"' in page.text
        assert page.headers["Strict-Transport-Security"].startswith("max-age=")
        redirect = requests.get(f"{http}/accounts/login/", allow_redirects=False, timeout=10)
        assert redirect.status_code in {301, 308}
        # To the standard https port (443, as compose publishes it): caddy 2.6 drops a non-standard one.
        assert redirect.headers["Location"].removeprefix("https://localhost").endswith("/accounts/login/")

        browser = requests.Session()  # verify= on each call: REQUESTS_CA_BUNDLE would override a session's
        form = browser.get(f"{https}/accounts/login/", verify=str(root), timeout=10)
        assert all(cookie.secure for cookie in browser.cookies)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        assert token is not None
        signed_in = browser.post(
            f"{https}/accounts/login/",
            data={"username": "erin", "password": "correct horse battery", "csrfmiddlewaretoken": token[1]},
            headers={"Referer": f"{https}/accounts/login/"},
            allow_redirects=False,
            verify=str(root),
            timeout=10,
        )
        assert signed_in.status_code == 302, signed_in.text[:500]
        assert browser.get(f"{https}/", verify=str(root), timeout=10).status_code == 200
