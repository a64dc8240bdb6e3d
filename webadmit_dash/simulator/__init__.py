"""An offline WebAdMIT: a seeded world of identities, exports and export files served over HTTP.

Used for demos and for integration tests; it knows the API's documented behaviour and nothing of the product.
Its control endpoints (`/_simulator/...`) take no key: serve it on localhost only.
"""

from typing import Any

from .app import SimulatorApp
from .data import FAULT_KINDS, SimulatedWorld

__all__ = ["DEMO_API_KEY", "FAULT_KINDS", "SimulatedWorld", "SimulatorApp", "SimulatorServer"]


def __getattr__(name: str) -> Any:
    # Imported lazily so that `python -m webadmit_dash.simulator.server` does not load that module twice.
    if name in ("DEMO_API_KEY", "SimulatorServer"):
        from . import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
