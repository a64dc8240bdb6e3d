"""The dashboard's test world: files in the shared identities, and a simulated WebAdMIT for downloads and runs."""

from __future__ import annotations

# The cache is emptied around every test by tests/conftest.py.
