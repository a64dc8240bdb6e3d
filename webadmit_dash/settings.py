"""Settings for webadmit-dash, configured by environment variables alone (see the README's table).

The defaults need no server: SQLite and Celery's filesystem broker in the data folder. Production switches by
environment: DJANGO_ENV=production, DATABASE_URL, CELERY_BROKER_URL, DJANGO_SECRET_KEY, ENCRYPTION_KEYS, ...

Importing this module only reads (the environment, and the data folder's generated secrets if they exist): it
creates no folder and writes no file, so tools that import it (mypy, `manage.py check` in CI) leave nothing behind.
The commands that need the data folder make it (webadmit_dash/local_data.py: `runstack`, `generate_secrets --write`).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import available_timezones

import django_stubs_ext
from csp.constants import NONE, SELF

from webadmit_dash.config import (
    ConfigError,
    Env,
    parse_database_url,
    parse_fernet_keys,
    parse_site_url,
    read_secret,
)

# Django's generic classes take their model at run time too (ModelAdmin[Any], ModelForm[UserPreference]), as
# mypy --strict has them written.
django_stubs_ext.monkeypatch()

env = Env()
BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env.string("DATA_DIR") or BASE_DIR / "var").resolve()

DJANGO_ENV = env.choice("DJANGO_ENV", "development", ("development", "production", "test"))
PRODUCTION = DJANGO_ENV == "production"
DEBUG = env.boolean("DJANGO_DEBUG", default=DJANGO_ENV == "development")


def _secret(name: str, file_name: str) -> str:
    value = env.string(name)
    if value:
        return value
    if PRODUCTION:
        raise ConfigError(
            f"{name}: required when DJANGO_ENV=production (or set {name}_FILE); "
            "`DJANGO_ENV=development python manage.py generate_secrets` prints new ones"
        )
    # Outside production, the one generated into the data folder; empty until a command makes it (a system check
    # says which: ops/checks.py).
    return read_secret(DATA_DIR / file_name)


SECRET_KEY = _secret("DJANGO_SECRET_KEY", "secret_key")
_encryption_keys = _secret("ENCRYPTION_KEYS", "encryption_key")
ENCRYPTION_KEYS = parse_fernet_keys(_encryption_keys) if _encryption_keys else []

ALLOWED_HOSTS = env.strings("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ConfigError("ALLOWED_HOSTS: required when DJANGO_ENV=production (comma-separated host names)")
CSRF_TRUSTED_ORIGINS = env.strings("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "ninja",  # serves the API docs page's Swagger UI from our own static files, not a CDN
    "axes",
    "csp",
    "webadmit_dash.core",
    "webadmit_dash.shared",
    "webadmit_dash.engine",
    "webadmit_dash.web",
    "webadmit_dash.api",
    "webadmit_dash.ops",
    "webadmit_dash.accounts",
    "webadmit_dash.notifications",
    "webadmit_dash.collection",
    "webadmit_dash.schedules",
]
if not PRODUCTION:
    # `runstack` and the bundled WebAdMIT simulator are for a laptop and the tests: a production server has no use
    # for a command that serves a fake WebAdMIT.
    INSTALLED_APPS += ["webadmit_dash.stack", "webadmit_dash.simulator"]

MIDDLEWARE = [
    # First: /healthz, /readyz and /metrics answer before host validation and the https redirect (ops/middleware.py).
    "webadmit_dash.ops.middleware.OpsEndpointsMiddleware",
    # Outside everything that may reach the database: a request that failed because it is unreachable is a 503 in
    # words with Retry-After, not a 500 (ops/outage.py).
    "webadmit_dash.ops.outage.DatabaseOutageMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # The unchanged poll answered from what this process knows, before the rest (web/poll_gate.py): most requests
    # are these, and they carry nothing for the middleware below to protect or decorate.
    "webadmit_dash.web.poll_gate.PollGateMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Inside whitenoise, so static files keep their long caching; outside the rest, so it sees every page.
    "webadmit_dash.web.middleware.NoStoreMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "webadmit_dash.web.middleware.AdminQueryGuardMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "webadmit_dash.web.middleware.HtmxVaryMiddleware",
    "webadmit_dash.web.middleware.UserTimezoneMiddleware",
    # Last, as django-axes asks: it turns a sign-in that axes refused into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "webadmit_dash.urls"
WSGI_APPLICATION = "webadmit_dash.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "webadmit_dash.accounts.context_processors.sign_in",
            ],
        },
    }
]

# --- Database -------------------------------------------------------------------------------------------------
DATABASES = {"default": parse_database_url(env.string("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # WAL lets the web server read while a worker writes; IMMEDIATE takes the write lock at BEGIN so that
    # read-then-write transactions wait (up to the timeout) instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # Kept open between requests, as PostgreSQL's are (config.py): opening one and running its pragmas was half of
    # what an unchanged poll cost the web server (issue 24). Each server thread keeps its own.
    DATABASES["default"]["CONN_MAX_AGE"] = 60
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Each process's own memory, for what is cheap to recount (the dashboard's per-identity counts, web/listing.py),
# with room for every identity of a large installation: Django's default keeps only 300 entries.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "OPTIONS": {"MAX_ENTRIES": 100_000}}}

# --- Celery ---------------------------------------------------------------------------------------------------
CELERY_BROKER_URL = env.string("CELERY_BROKER_URL") or "filesystem://"
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = DATA_DIR / "celery" / "queue"
    _control_dir = DATA_DIR / "celery" / "control"
    # kombu's own filesystem transport can hand a worker a half-written message (kombu issue #1551): ours
    # publishes by rename. See embedded_broker.py for how, and for its limits.
    CELERY_BROKER_TRANSPORT = "webadmit_dash.embedded_broker:Transport"
    # The web process and the worker must point at the same folders (kombu does not create them; local_data does).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "control_folder": str(_control_dir),
        "store_processed": False,
        # Each worker thread waits this long between looks at an empty queue folder: short enough that a laptop
        # keeps up with hundreds of identities on the fast cadence, long enough to cost nothing when idle.
        "polling_interval": 0.2,
    }
elif not CELERY_BROKER_URL.startswith(("redis://", "rediss://", "amqp://", "memory://")):
    raise ConfigError(f"CELERY_BROKER_URL: unsupported scheme in {CELERY_BROKER_URL.split('://')[0]!r}")
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 60
CELERY_TASK_TIME_LIMIT = 90
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# Celery's file-kept schedule, logging a broker outage once rather than a traceback per task (webadmit_dash/beat.py).
CELERY_BEAT_SCHEDULER = "webadmit_dash.beat:Scheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- WebAdMIT and the refresh engine ----------------------------------------------------------------------------
WEBADMIT_ALLOWED_HOSTS = [host.lower().lstrip(".") for host in env.strings("WEBADMIT_ALLOWED_HOSTS", ["webadmit.org"])]
# Loopback base URLs (the bundled simulator) are refused unless the operator opts in for local testing.
WEBADMIT_ALLOW_LOOPBACK = env.boolean("WEBADMIT_ALLOW_LOOPBACK", default=False)
WEBADMIT_FAST_INTERVAL = env.integer("WEBADMIT_FAST_INTERVAL", 15, minimum=1, maximum=3600)
if env.string("WEBADMIT_SLOW_INTERVAL"):
    # Its fixed cadence became a floor plus a budget share; a silently ignored value would mislead whoever set it.
    raise ConfigError(
        "WEBADMIT_SLOW_INTERVAL: no longer used; settled identities are now refreshed as often as "
        "WEBADMIT_SETTLED_SHARE of the key's budget allows, but never more often than WEBADMIT_SLOW_FLOOR seconds"
    )
# Settled identities (no file running) are refreshed as often as their share of the key's hourly budget allows,
# never more often than the floor.
WEBADMIT_SLOW_FLOOR = env.integer("WEBADMIT_SLOW_FLOOR", 30, minimum=1, maximum=86400)
WEBADMIT_SETTLED_SHARE = env.integer("WEBADMIT_SETTLED_SHARE", 25, minimum=1, maximum=100)  # percent
WEBADMIT_RATE_LIMIT_PER_HOUR = env.integer("WEBADMIT_RATE_LIMIT_PER_HOUR", 5000, minimum=1, maximum=1_000_000)
WEBADMIT_RETENTION_DAYS = env.integer("WEBADMIT_RETENTION_DAYS", 30, minimum=1)
WEBADMIT_DISPATCH_EVERY = env.integer("WEBADMIT_DISPATCH_EVERY", 5, minimum=1, maximum=300)
WEBADMIT_CONNECT_TIMEOUT = env.integer("WEBADMIT_CONNECT_TIMEOUT", 5, minimum=1, maximum=300)
WEBADMIT_READ_TIMEOUT = env.integer("WEBADMIT_READ_TIMEOUT", 20, minimum=1, maximum=300)
# A paused key (rejected) or identity (not found) is checked again by itself: first after this many seconds, then
# after twice as long each time, up to the maximum.
WEBADMIT_PAUSE_CHECK_FIRST = env.integer("WEBADMIT_PAUSE_CHECK_FIRST", 60, minimum=1, maximum=86400)
WEBADMIT_PAUSE_CHECK_MAX = env.integer("WEBADMIT_PAUSE_CHECK_MAX", 900, minimum=1, maximum=86400)
# Calls a person waits for (Download, Run again) hold a web server thread, so they get shorter timeouts of their
# own, at most this many run at once in one web process (keep it below gunicorn's --threads), and while a key's
# WebAdMIT is known not to answer they are refused at once for WEBADMIT_CIRCUIT_PAUSE seconds, then one is tried.
WEBADMIT_INTERACTIVE_CONNECT_TIMEOUT = env.integer("WEBADMIT_INTERACTIVE_CONNECT_TIMEOUT", 3, minimum=1, maximum=60)
WEBADMIT_INTERACTIVE_READ_TIMEOUT = env.integer("WEBADMIT_INTERACTIVE_READ_TIMEOUT", 8, minimum=1, maximum=120)
WEBADMIT_INTERACTIVE_CALLS = env.integer("WEBADMIT_INTERACTIVE_CALLS", 2, minimum=1, maximum=1000)
WEBADMIT_CIRCUIT_PAUSE = env.integer("WEBADMIT_CIRCUIT_PAUSE", 30, minimum=1, maximum=3600)
# Interactive calls spend the key's hourly budget, which refreshes everyone's files: one person may make at most this
# many a minute (answered 429 past it), and all of them together at most this percent of a key's hourly limit (the
# scheduled refreshes plan with 80 percent, so more than 20 would eat into theirs).
WEBADMIT_INTERACTIVE_PER_MINUTE = env.integer("WEBADMIT_INTERACTIVE_PER_MINUTE", 30, minimum=1, maximum=10_000)
WEBADMIT_INTERACTIVE_SHARE = env.integer("WEBADMIT_INTERACTIVE_SHARE", 10, minimum=1, maximum=20)  # percent

# The dispatcher's heartbeat older than this means beat (or every worker) has stopped: the pages' "Refreshes are
# late" banner and /readyz's beat check both use it.
BEAT_LATE_AFTER = env.integer("BEAT_LATE_AFTER", max(60, 6 * WEBADMIT_DISPATCH_EVERY), minimum=1)
# A run with no finished earlier run of its export is stuck after this long (core/stuck.py; never under 30).
WEBADMIT_STUCK_AFTER_MINUTES = env.integer("WEBADMIT_STUCK_AFTER_MINUTES", 120, minimum=30)

# --- Collect and deliver (webadmit_dash/collection) ----------------------------------------------------------------
# Collected files are kept, encrypted by the product itself, in the `archive` storage (STORAGES below): a folder only
# the owner can read by default, or any Django storage backend (ARCHIVE_STORAGE_BACKEND and ARCHIVE_STORAGE_OPTIONS,
# JSON, e.g. django-storages' S3 backend with its bucket). A file is pruned this many days after it was collected
# unless it is on hold (a records request).
ARCHIVE_DIR = Path(env.string("ARCHIVE_DIR") or DATA_DIR / "archive").resolve()
ARCHIVE_RETENTION_DAYS = env.integer("ARCHIVE_RETENTION_DAYS", 30, minimum=1)
# Collection asks WebAdMIT for download links (E5) from the key's hourly budget, at most this percent of its limit
# (the refreshes plan with 80, interactive calls take up to WEBADMIT_INTERACTIVE_SHARE of the rest).
WEBADMIT_COLLECTION_SHARE = env.integer("WEBADMIT_COLLECTION_SHARE", 10, minimum=1, maximum=20)  # percent
# Collection and delivery run on a queue of their own, so a slow download never delays a refresh.
COLLECTION_QUEUE = "collection"
# How often beat looks for files to collect and deliveries due (an idle look is two indexed queries).
COLLECT_EVERY = env.integer("COLLECT_EVERY", 5, minimum=1, maximum=300)
# A delivery that failed for a reason that may pass is tried again after 30 s, then twice as long each time up to an
# hour, this many times in all; then it is failed for good and a "Delivery failed" notification goes out.
DELIVERY_ATTEMPTS = env.integer("DELIVERY_ATTEMPTS", 12, minimum=1, maximum=100)
DELIVERY_FIRST_RETRY = env.integer("DELIVERY_FIRST_RETRY", 30, minimum=1, maximum=3600)
DELIVERY_MAX_RETRY = env.integer("DELIVERY_MAX_RETRY", 3600, minimum=1, maximum=86400)
# A worker's claim on a file it collects or delivers; renewed while bytes flow, so this is how soon the work of a
# worker that was killed is taken up again.
COLLECTION_LEASE_SECONDS = env.integer("COLLECTION_LEASE_SECONDS", 90, minimum=3, maximum=3600)

# --- Schedules, callbacks and the watchdog (webadmit_dash/schedules) -------------------------------------------------
# After downtime, a schedule's missed run is started once (not once per missed slot), and only if its slot is no
# older than this many hours; older slots are recorded as skipped.
SCHEDULE_CATCH_UP_HOURS = env.integer("SCHEDULE_CATCH_UP_HOURS", 6, minimum=0, maximum=168)
# Runs started here (by a schedule or Run again, PDF Manager batches included) ask WebAdMIT to call
# SITE_URL/webadmit/callback/<token>/ when the file is ready, so the badge turns at once instead of at the next
# refresh. Needs SITE_URL reachable from WebAdMIT; batches are asked only when SITE_URL is https (WebAdMIT refuses
# any other batch callback with a 422).
WEBADMIT_CALLBACKS = env.boolean("WEBADMIT_CALLBACKS", default=False)
# Gives batches an http:// callback all the same: only for the simulator started with --http-batch-callbacks (a demo
# or tests without TLS). Real WebAdMIT would refuse every batch started.
WEBADMIT_HTTP_BATCH_CALLBACKS = env.boolean("WEBADMIT_HTTP_BATCH_CALLBACKS", default=False)
# Callback calls answered per minute from one address (unknown tokens included); past it, 429.
WEBADMIT_CALLBACKS_PER_MINUTE = env.integer("WEBADMIT_CALLBACKS_PER_MINUTE", 60, minimum=1, maximum=100_000)

# --- E-mail and notifications -------------------------------------------------------------------------------------
EMAIL_HOST = env.string("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env.integer("EMAIL_PORT", 25, minimum=1)
    EMAIL_HOST_USER = env.string("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env.string("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = env.boolean("EMAIL_USE_TLS", default=False)
    EMAIL_TIMEOUT = 20
else:
    # No mail server (a laptop, `make run`): each message is written to a file in DATA_DIR/mail/ instead.
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(DATA_DIR / "mail")
DEFAULT_FROM_EMAIL = env.string("DEFAULT_FROM_EMAIL", "webadmit-dash <webadmit-dash@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Where the links in notifications point: the address staff open the dashboard at.
SITE_URL = parse_site_url(
    env.string("SITE_URL") or (f"https://{ALLOWED_HOSTS[0]}" if PRODUCTION else "http://127.0.0.1:8000")
)
# Beat's pace for turning recorded transitions into notifications, and for retries, digests and stuck runs.
NOTIFY_FAN_OUT_EVERY = env.integer("NOTIFY_FAN_OUT_EVERY", 5, minimum=1)
# How long a sender's claim on deliveries holds; a sender killed mid-send frees its deliveries after this long.
NOTIFY_SEND_LEASE_SECONDS = env.integer("NOTIFY_SEND_LEASE_SECONDS", 300, minimum=5)
# "WebAdMIT unreachable" is news once an identity's refreshes have failed to reach it for this long.
NOTIFY_UNREACHABLE_AFTER_MINUTES = env.integer("NOTIFY_UNREACHABLE_AFTER_MINUTES", 30, minimum=1)
# Whether the end of a credential problem is told, once, to those who were told of its start.
NOTIFY_ALL_CLEAR = env.boolean("NOTIFY_ALL_CLEAR", default=True)
# Hosts a webhook may reach although they are not public (loopback, private, link-local): exact names or addresses.
WEBHOOK_ALLOWED_HOSTS = [host.lower().strip("[]").rstrip(".") for host in env.strings("WEBHOOK_ALLOWED_HOSTS", [])]

CELERY_BEAT_SCHEDULE = {
    "dispatch-due-refreshes": {
        "task": "webadmit_dash.engine.tasks.dispatch_due_refreshes",
        "schedule": float(WEBADMIT_DISPATCH_EVERY),
        "options": {"expires": WEBADMIT_DISPATCH_EVERY * 2},
    },
    "prune-history": {
        "task": "webadmit_dash.engine.tasks.prune_history",
        "schedule": 3600.0,
    },
    # Notifications: the outbox is read often (an unchanged look is one indexed query); state is read each minute.
    "notify-fan-out": {
        "task": "webadmit_dash.notifications.tasks.fan_out",
        "schedule": float(NOTIFY_FAN_OUT_EVERY),
        "options": {"expires": NOTIFY_FAN_OUT_EVERY * 2},
    },
    "notify-deliver-due": {
        "task": "webadmit_dash.notifications.tasks.deliver_due",
        "schedule": 15.0,
        "options": {"expires": 30},
    },
    "notify-watch": {
        "task": "webadmit_dash.notifications.tasks.watch",
        "schedule": 60.0,
        "options": {"expires": 120},
    },
    "notify-prune": {
        "task": "webadmit_dash.notifications.tasks.prune",
        "schedule": 3600.0,
    },
    "collect-due": {
        "task": "webadmit_dash.collection.tasks.dispatch",
        "schedule": float(COLLECT_EVERY),
        "options": {"expires": COLLECT_EVERY * 2},
    },
    "archive-prune": {
        "task": "webadmit_dash.collection.tasks.prune_archive",
        "schedule": 3600.0,
    },
    # Schedules: due slots are started within WEBADMIT_DISPATCH_EVERY seconds of their time (default queue: a run's
    # start is one short interactive call, never stuck behind collection's downloads).
    "schedules-dispatch": {
        "task": "webadmit_dash.schedules.tasks.dispatch_due",
        "schedule": float(WEBADMIT_DISPATCH_EVERY),
        "options": {"expires": WEBADMIT_DISPATCH_EVERY * 2},
    },
    # The watchdog: deadlines of expected files are judged to the minute (schedules/watchdog.py).
    "watch-expected-files": {
        "task": "webadmit_dash.schedules.watch_tasks.check_expected_files",
        "schedule": 60.0,
        "options": {"expires": 120},
    },
}
# Only the transfers go to the collection queue: the dispatcher stays on the default one, so it runs every few
# seconds even while every collection thread is busy with a big file.
CELERY_TASK_ROUTES = {
    "webadmit_dash.collection.tasks.collect": {"queue": COLLECTION_QUEUE},
    "webadmit_dash.collection.tasks.deliver": {"queue": COLLECTION_QUEUE},
}

# --- Operations: health and metrics (webadmit_dash/ops) -----------------------------------------------------------
# prometheus-client's multiprocess mode: every process (gunicorn and Celery workers) keeps its counters in files
# here and /metrics adds them up, so it must be one folder shared by the web and the workers of a host.
METRICS_DIR = Path(env.string("PROMETHEUS_MULTIPROC_DIR") or DATA_DIR / "metrics").resolve()
# /metrics is refused unless the scraper sends this bearer token or comes from one of these addresses.
METRICS_TOKEN = env.string("METRICS_TOKEN")
METRICS_ALLOWED_IPS = env.networks("METRICS_ALLOWED_IPS")

# --- Sign-in: local passwords, a trusted proxy's header, OpenID Connect (webadmit_dash/accounts) ---------------------
LOCAL_PASSWORDS = env.boolean("LOCAL_PASSWORDS", default=True)
REMOTE_USER_HEADER = env.header("REMOTE_USER_HEADER")
REMOTE_USER_PROXIES = env.networks("REMOTE_USER_PROXIES")
REMOTE_GROUPS_HEADER = env.header("REMOTE_GROUPS_HEADER")
REMOTE_GROUPS_SEPARATOR = env.string("REMOTE_GROUPS_SEPARATOR", ",") or ","
if REMOTE_USER_HEADER and not REMOTE_USER_PROXIES:
    # Anyone could otherwise send the header straight to the web server and be signed in as anybody.
    raise ConfigError("REMOTE_USER_PROXIES: required with REMOTE_USER_HEADER (the addresses of your SSO proxy)")
# Off: a campus sign-in named like an account with its own password (the local `admin`) or a superuser is refused.
CAMPUS_SIGN_IN_MATCHES_LOCAL_ACCOUNTS = env.boolean("CAMPUS_SIGN_IN_MATCHES_LOCAL_ACCOUNTS", default=False)
OIDC_RP_CLIENT_ID = env.string("OIDC_RP_CLIENT_ID")
OIDC_ENABLED = bool(OIDC_RP_CLIENT_ID)
if OIDC_ENABLED:
    OIDC_RP_CLIENT_SECRET = env.string("OIDC_RP_CLIENT_SECRET")
    OIDC_OP_AUTHORIZATION_ENDPOINT = env.string("OIDC_OP_AUTHORIZATION_ENDPOINT")
    OIDC_OP_TOKEN_ENDPOINT = env.string("OIDC_OP_TOKEN_ENDPOINT")
    OIDC_OP_USER_ENDPOINT = env.string("OIDC_OP_USER_ENDPOINT")
    OIDC_OP_JWKS_ENDPOINT = env.string("OIDC_OP_JWKS_ENDPOINT")
    for _name in ("OIDC_RP_CLIENT_SECRET", "OIDC_OP_AUTHORIZATION_ENDPOINT", "OIDC_OP_TOKEN_ENDPOINT",
                  "OIDC_OP_USER_ENDPOINT", "OIDC_OP_JWKS_ENDPOINT"):  # fmt: skip
        if not globals()[_name]:
            raise ConfigError(f"{_name}: required with OIDC_RP_CLIENT_ID (see your provider's discovery document)")
    _algorithms = ("rs256", "rs384", "rs512", "es256", "es384", "es512")  # signed with the provider's published key
    OIDC_RP_SIGN_ALGO = env.choice("OIDC_RP_SIGN_ALGO", "rs256", _algorithms).upper()
    OIDC_RP_SCOPES = env.string("OIDC_RP_SCOPES", "openid email profile")
    OIDC_USERNAME_CLAIM = env.string("OIDC_USERNAME_CLAIM", "preferred_username")
    OIDC_GROUPS_CLAIM = env.string("OIDC_GROUPS_CLAIM")
    OIDC_TIMEOUT = env.integer("OIDC_TIMEOUT", 10, minimum=1)
    # Seconds the provider's clock may differ from ours when checking an ID token's iat, nbf and exp.
    OIDC_CLOCK_LEEWAY = env.integer("OIDC_CLOCK_LEEWAY", 60, minimum=0, maximum=600)
    OIDC_USE_PKCE = True
    LOGIN_REDIRECT_URL_FAILURE = "/accounts/login/"  # a path: the library does not resolve URL names here
if not LOCAL_PASSWORDS and not (REMOTE_USER_HEADER or OIDC_ENABLED):
    raise ConfigError("LOCAL_PASSWORDS: cannot be false unless REMOTE_USER_HEADER or OIDC_RP_CLIENT_ID is set")
AUTHENTICATION_BACKENDS = [
    *(["webadmit_dash.accounts.proxy.TrustedProxyBackend"] if REMOTE_USER_HEADER else []),
    *(["webadmit_dash.accounts.oidc.CampusOIDCBackend"] if OIDC_ENABLED else []),
    *(["django.contrib.auth.backends.ModelBackend"] if LOCAL_PASSWORDS else []),
]
if REMOTE_USER_HEADER:
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
        "webadmit_dash.accounts.proxy.TrustedProxyMiddleware",
    )

# --- Auth, i18n, static -----------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in throttling (django-axes): after LOGIN_FAILURES_ALLOWED wrong passwords for one user name from one
# address, the next one locks that pair out for LOGIN_COOLOFF_MINUTES, the right password included. Another
# address (the real user at their desk) is not locked out by someone guessing elsewhere.
# axes' backend goes first: it refuses a locked-out pair before any other backend checks a password.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", *AUTHENTICATION_BACKENDS]
LOGIN_FAILURES_ALLOWED = env.integer("LOGIN_FAILURES_ALLOWED", 5, minimum=1)
LOGIN_COOLOFF_MINUTES = env.integer("LOGIN_COOLOFF_MINUTES", 15, minimum=1)
AXES_FAILURE_LIMIT = LOGIN_FAILURES_ALLOWED + 1  # axes locks out at the failure that reaches the limit
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Attempts during a lockout do not push its end further away: the person who keeps trying is usually the owner.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# The log of failures names the user name and address (axes masks them by default, which leaves an operator
# nothing to act on); the password is always masked, in the log and in the recorded attempt.
AXES_SENSITIVE_PARAMETERS: list[str] = []
AXES_CLIENT_IP_CALLABLE = "webadmit_dash.accounts.peers.client_address"
AXES_LOCKOUT_CALLABLE = "webadmit_dash.web.lockout.locked_out"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "recent_files"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.string("TIME_ZONE", "UTC")
if TIME_ZONE not in available_timezones():
    raise ConfigError(f"TIME_ZONE: unknown time zone {TIME_ZONE!r} (use an IANA name like America/New_York)")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.string("STATIC_ROOT") or DATA_DIR / "static")
STATICFILES_DIRS = [BASE_DIR / "static"]
ARCHIVE_STORAGE_BACKEND = env.string("ARCHIVE_STORAGE_BACKEND") or "django.core.files.storage.FileSystemStorage"
ARCHIVE_STORAGE_OPTIONS = env.json_object("ARCHIVE_STORAGE_OPTIONS") or {
    "location": str(ARCHIVE_DIR),
    "file_permissions_mode": 0o600,
    "directory_permissions_mode": 0o700,
}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # What collection keeps (already encrypted by the product, see collection/envelope.py): owner-only files in a
    # folder by default; any storage backend (S3 through django-storages) when configured.
    "archive": {"BACKEND": ARCHIVE_STORAGE_BACKEND, "OPTIONS": ARCHIVE_STORAGE_OPTIONS},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
if ARCHIVE_STORAGE_BACKEND == "storages.backends.s3.S3Storage" and "transfer_config" not in ARCHIVE_STORAGE_OPTIONS:
    # boto3's defaults hold about ten 8 MiB parts in memory while uploading (118 MB measured for a 300 MiB file);
    # two 5 MiB parts keep a worker collecting big files near 40 MB. Not expressible in JSON, so set here.
    from boto3.s3.transfer import TransferConfig

    _transfer = TransferConfig(max_concurrency=2, multipart_chunksize=5 * 2**20, multipart_threshold=5 * 2**20)
    _transfer.max_in_memory_upload_chunks = 2  # not a constructor argument
    ARCHIVE_STORAGE_OPTIONS["transfer_config"] = _transfer

# Outside production the files are served from the project's folders, with or without DEBUG (collectstatic is a
# deployment step): `DJANGO_DEBUG=false make run` must not lose its stylesheet.
WHITENOISE_USE_FINDERS = not PRODUCTION

# --- Security ---------------------------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads no cookie: the token is set once on <body> via hx-headers.
X_FRAME_OPTIONS = "DENY"
# A strict Content-Security-Policy (django-csp): scripts, styles, images and requests from this site only, and no
# inline script or style at all (no 'unsafe-inline', no 'unsafe-eval'): the pages' behaviour is in static/js,
# their looks in static/css, and htmx is told not to evaluate attributes or inject styles (base.html). So an
# injected <script> or on*= attribute does not run even if something ever slipped past the templates' escaping.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
# Nothing here needs the browser's powerful features: turned off, for this site and anything it might embed.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "hid",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "serial",
        "usb",
    )
}
# Behind a proxy, the client's address is the last X-Forwarded-For entry (web/lockout.py), and https is told by
# X-Forwarded-Proto (production only). X-Forwarded-For is believed only from TRUSTED_PROXIES.
BEHIND_TLS_PROXY = env.boolean("BEHIND_TLS_PROXY", default=False)
TRUSTED_PROXIES = env.networks("TRUSTED_PROXIES")
if BEHIND_TLS_PROXY and not TRUSTED_PROXIES:
    # Believing the header from anyone would let a client that reaches the web port directly pick a fresh address
    # for every guessed password; believing it from nobody would lock everyone out together at the proxy's address.
    raise ConfigError(
        "TRUSTED_PROXIES: required with BEHIND_TLS_PROXY=true (the addresses or networks your TLS proxy connects "
        "from, e.g. 127.0.0.1 or 172.16.0.0/12)"
    )
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.boolean("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.integer("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # The preload directive does nothing until the domain's owner submits it to the browsers' list.
    SECURE_HSTS_PRELOAD = env.boolean("SECURE_HSTS_PRELOAD", default=True)
    if BEHIND_TLS_PROXY:
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Logging ----------------------------------------------------------------------------------------------------
LOG_LEVEL = env.choice("LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"database_outages": {"()": "webadmit_dash.ops.outage.HideDatabaseOutages"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "webadmit_dash": {"level": LOG_LEVEL, "handlers": ["console"], "propagate": False},
        "celery": {"level": "INFO"},
        # Failed and locked-out sign-ins (user name, address, path; never the password).
        "axes": {"level": "WARNING"},
        # A database outage is logged once by ops/outage.py, not as a traceback per request.
        "django.request": {"filters": ["database_outages"]},
    },
}
