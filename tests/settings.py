"""Test settings: the product's settings with a data folder of the run's own, fast hashing and plain static files.

Each test run gets a fresh DATA_DIR (under var/, removed when the run ends; see conftest.py), which keeps its
workers off the queue of a `make run` on the same machine and off that of another test run in the same checkout.
Values go through os.environ (not only this module) so that the worker and server subprocesses started by tests
inherit them and share the run's folder.
"""

import os
import sys
import tempfile
from pathlib import Path

# pytest-xdist's parallel processes (`make test-fast`) are named in PYTEST_XDIST_WORKER: gw0, gw1...
if (
    os.environ.get("PYTEST_XDIST_WORKER")
    and os.environ.get("DATA_DIR") == os.environ.get("WEBADMIT_TEST_OWN_DATA_DIR")
    and os.environ.get("WEBADMIT_TEST_OWN_DATA_DIR_WORKER") != os.environ["PYTEST_XDIST_WORKER"]
):
    # Such a process inherits the folder its controller made: it takes one of its own, as a run of its own would
    # (its SQLite database, broker queue and keys). The subprocesses it starts inherit that one and keep it.
    del os.environ["DATA_DIR"]
if "DATA_DIR" not in os.environ:
    _VAR = Path(__file__).resolve().parent.parent / "var"
    _VAR.mkdir(exist_ok=True)
    os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="test-run-", dir=_VAR)
    # Marks the folder as this run's (or this parallel process's) to delete; a DATA_DIR given from outside is left
    # alone.
    os.environ["WEBADMIT_TEST_OWN_DATA_DIR"] = os.environ["DATA_DIR"]
    os.environ["WEBADMIT_TEST_OWN_DATA_DIR_WORKER"] = os.environ.get("PYTEST_XDIST_WORKER", "")
os.environ.setdefault("WEBADMIT_ALLOW_LOOPBACK", "true")
# The tests' webhook receivers listen on loopback.
os.environ.setdefault("WEBHOOK_ALLOWED_HOSTS", "127.0.0.1")
os.environ.setdefault("DJANGO_ENV", "test")
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"

from webadmit_dash import local_data
from webadmit_dash.settings import *  # noqa: F403
from webadmit_dash.settings import STORAGES

# Settings only read: the run's data folder, its broker folders and secrets are made here, as `runstack` makes them,
# so the worker and server subprocesses the tests start (with this DATA_DIR) read the same secrets.
local_data.prepare(sys.modules[__name__])

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The manifest storage needs collectstatic; the live server would answer 404 for hashed names.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
