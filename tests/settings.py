"""Test settings: the product's settings with a separate data folder, fast hashing and plain static files.

A separate DATA_DIR keeps test workers off the queue of a `make run` on the same machine. Values go through
os.environ (not only this module) so that worker and server subprocesses started by tests inherit them.
"""

import os
from pathlib import Path

os.environ.setdefault("DATA_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test"))
os.environ.setdefault("WEBADMIT_ALLOW_LOOPBACK", "true")
os.environ.setdefault("DJANGO_ENV", "test")
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"

from webadmit_dash.settings import *  # noqa: F403
from webadmit_dash.settings import STORAGES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The manifest storage needs collectstatic; the live server would answer 404 for hashed names.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
