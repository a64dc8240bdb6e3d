"""webadmit-dash: a live dashboard of WebAdMIT export files across user identities."""

from importlib.metadata import version

from .celery import app as celery_app

__version__ = version("webadmit-dash")
__all__ = ["__version__", "celery_app"]
