"""Typed parsing of environment variables for settings.py.

Every parser raises ConfigError with a message that names the variable, so a bad deployment fails with one
clear line (manage.py, wsgi.py and celery.py print it and exit) instead of a traceback from deep inside Django.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from cryptography.fernet import Fernet

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


class ConfigError(Exception):
    """A bad configuration value; the message names the variable and what is wrong with it."""


def exit_on_config_error(error: ConfigError) -> None:
    print(f"webadmit-dash: configuration error: {error}", file=sys.stderr)
    raise SystemExit(2)


class Env:
    """Reads typed values from an environment mapping (os.environ by default)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def string(self, name: str, default: str = "") -> str:
        file_name = self.environ.get(f"{name}_FILE")
        if file_name:
            # *_FILE variants let secrets come from Docker/Kubernetes secret files instead of the environment.
            try:
                return Path(file_name).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"{name}_FILE: cannot read {file_name!r} ({exc.strerror})") from None
        return self.environ.get(name, default).strip()

    def boolean(self, name: str, default: bool) -> bool:
        raw = self.environ.get(name)
        if raw is None:
            return default
        word = raw.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ConfigError(f"{name}: expected true or false, got {raw!r}")

    def integer(self, name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
        raw = self.environ.get(name, "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name}: expected a whole number, got {raw!r}") from None
        if value < minimum:
            raise ConfigError(f"{name}: must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise ConfigError(f"{name}: must be at most {maximum}, got {value}")
        return value

    def strings(self, name: str, default: list[str]) -> list[str]:
        raw = self.string(name)
        if not raw:
            return list(default)
        return [item.strip() for item in raw.split(",") if item.strip()]

    def networks(self, name: str, default: list[str] | None = None) -> list[IPNetwork]:
        """Comma-separated addresses or networks (`10.0.0.5`, `10.0.0.0/24`, `::1`), e.g. a proxy's allow-list."""
        parsed = []
        for item in self.strings(name, default or []):
            try:
                parsed.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ConfigError(
                    f"{name}: {item!r} is not an IP address or network (e.g. 10.0.0.5 or 10.0.0.0/24)"
                ) from None
        return parsed

    def header(self, name: str) -> str:
        """A request header as Django's request.META names it: `X-Remote-User` and `HTTP_X_REMOTE_USER` both give
        `HTTP_X_REMOTE_USER`; `REMOTE_USER` (set by the web server itself, not a header) stays as it is."""
        raw = self.string(name)
        if not raw:
            return ""
        key = raw.upper().replace("-", "_")
        if not key.replace("_", "").isalnum():
            raise ConfigError(f"{name}: {raw!r} is not a header name (e.g. X-Remote-User)")
        if key == "REMOTE_USER" or key.startswith("HTTP_"):
            return key
        return f"HTTP_{key}"

    def json_object(self, name: str) -> dict[str, Any]:
        """A JSON object (`{"bucket_name": "archive"}`), e.g. a storage backend's options; {} when unset. May come
        from a `_FILE`, as it may hold credentials."""
        raw = self.string(name)
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise ConfigError(f"{name}: not valid JSON ({exc})") from None
        if not isinstance(value, dict):
            raise ConfigError(f'{name}: expected a JSON object like {{"bucket_name": "archive"}}')
        return value

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.string(name, default).lower()
        if value not in choices:
            raise ConfigError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
        return value


def parse_database_url(url: str, *, name: str = "DATABASE_URL") -> dict[str, Any]:
    """Turns sqlite:///path or postgres://user:pass@host:port/db?opts into a Django DATABASES entry."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"{name}: malformed URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        path = unquote(parts.path)
        if parts.netloc or not path or path == "/":
            raise ConfigError(f"{name}: expected sqlite:///relative/path or sqlite:////absolute/path")
        # sqlite:///var/db.sqlite3 is relative, sqlite:////data/db.sqlite3 is absolute (as in SQLAlchemy).
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": path[1:]}
    if scheme in {"postgres", "postgresql", "pgsql"}:
        database = unquote(parts.path.lstrip("/"))
        if not database:
            raise ConfigError(f"{name}: the PostgreSQL URL names no database (postgres://user@host:5432/NAME)")
        options: dict[str, object] = dict(parse_qsl(parts.query))
        # Server-side binding lets PostgreSQL reuse query plans (the dashboard's first page needs it to stay under
        # 50 ms); turn it off with ?server_side_binding=false behind PgBouncer in transaction mode.
        binding = str(options.pop("server_side_binding", "true")).lower()
        if binding not in TRUE_WORDS | FALSE_WORDS - {""}:
            raise ConfigError(f"{name}: server_side_binding must be true or false, got {binding!r}")
        options["server_side_binding"] = binding in TRUE_WORDS
        # Without it libpq waits for the operating system's TCP timeout (minutes) on an unreachable host: /readyz
        # and every process should say "database unreachable" within seconds instead.
        options.setdefault("connect_timeout", "5")
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": database,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": unquote(parts.hostname or ""),
            "PORT": str(port or ""),
            "OPTIONS": options,
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
    shown = scheme or "(none)"
    raise ConfigError(f"{name}: unsupported scheme {shown!r}; use sqlite:///path or postgres://user@host/db")


def parse_site_url(raw: str, *, name: str = "SITE_URL") -> str:
    """The dashboard's own address, for links in notifications: http(s)://host[:port][/path], no trailing slash."""
    try:
        parts = urlsplit(raw.strip())
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        raise ConfigError(f"{name}: malformed URL ({exc})") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(f"{name}: expected the dashboard's address, e.g. https://dash.example.edu, got {raw!r}")
    if parts.query or parts.fragment:
        raise ConfigError(f"{name}: give the address without ?query or #fragment, got {raw!r}")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def parse_fernet_keys(raw: str, *, name: str = "ENCRYPTION_KEYS") -> list[str]:
    """Comma-separated Fernet keys, newest first: the first encrypts, all decrypt (key rotation)."""
    keys = [key.strip() for key in raw.split(",") if key.strip()]
    if not keys:
        raise ConfigError(f"{name}: no key given")
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise ConfigError(
                f"{name}: key #{position} is not a valid Fernet key (32 url-safe base64-encoded bytes; "
                "make one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())')"
            ) from None
    return keys


def new_secret(kind: str) -> str:
    """A fresh random secret: a Fernet key (`fernet`, for ENCRYPTION_KEYS) or a Django secret key (`django`)."""
    return Fernet.generate_key().decode() if kind == "fernet" else secrets.token_urlsafe(50)


def read_secret(path: Path) -> str:
    """A secret kept in the data folder, or "" while there is none: reading settings never creates one."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""


def generated_secret(path: Path, *, kind: str) -> str:
    """Reads a secret kept in the data folder, creating it (owner-only) on first use.

    This is the zero-configuration default for a laptop (local_data.py); production mode never calls it. Two
    processes may prepare a fresh folder at the same moment: the secret is written whole under a name of its own
    and then linked into place, so exactly one value wins and no process reads a half-written file.
    """
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = new_secret(kind)
    draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    try:
        os.link(draft, path)  # fails if another process got there first: theirs is the secret
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    finally:
        draft.unlink()
    what = "encryption key" if kind == "fernet" else "Django secret key"
    print(f"webadmit-dash: no {what} configured; generated one in {path} (owner-only)", file=sys.stderr)
    return value


def private_directory(path: Path) -> Path:
    """Creates the folder owner-only (0700), and makes an existing one of ours owner-only too.

    The data folder holds the SQLite database, the broker's messages and generated secrets: nobody else on the
    machine has any business in it. A folder owned by someone else (a mounted volume) is left as it is.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    status = path.stat()
    if status.st_uid == os.geteuid() and status.st_mode & 0o077:
        path.chmod(0o700)
    return path


def make_private(path: Path) -> None:
    """Makes an existing file of ours owner-only (0600); a missing one, or someone else's, is left alone."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return
    if status.st_uid == os.geteuid() and status.st_mode & 0o077:
        path.chmod(0o600)
