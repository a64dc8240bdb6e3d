"""An offline WebAdMIT: a seeded world of identities, exports and export files served over HTTP.

Used for demos and for integration tests; it knows the API's documented behaviour and nothing of the product.
Its control endpoints (`/_simulator/...`) take no key: serve it on localhost only. Run it alone with
`python -m webadmit_dash.simulator` or `manage.py simulate_webadmit`.
"""

from .app import SimulatorApp
from .data import FAULT_KINDS, SimulatedWorld
from .server import DEMO_API_KEY, SimulatorServer

__all__ = ["DEMO_API_KEY", "FAULT_KINDS", "SimulatedWorld", "SimulatorApp", "SimulatorServer"]
