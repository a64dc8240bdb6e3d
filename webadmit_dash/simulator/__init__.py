"""An offline WebAdMIT: a seeded world of identities, exports and export files served over HTTP.

Used for demos and for integration tests; it knows the API's documented behaviour and nothing of the product.
Its control endpoints (`/_simulator/...`) take no key: serve it on localhost only. Run it alone with
`python -m webadmit_dash.simulator` or `manage.py simulate_webadmit`.

With a file size (`--file-size 5MB`), downloads are files of that size whose bytes depend only on the file id, the
size and the content type: `expected_sha256` and `expected_line_count` say what a download must hold.
"""

from .app import SimulatorApp
from .contents import expected_line_count, expected_sha256, file_bytes
from .data import FAULT_KINDS, SimulatedWorld
from .server import DEMO_API_KEY, SimulatorServer

__all__ = [
    "DEMO_API_KEY",
    "FAULT_KINDS",
    "SimulatedWorld",
    "SimulatorApp",
    "SimulatorServer",
    "expected_line_count",
    "expected_sha256",
    "file_bytes",
]
