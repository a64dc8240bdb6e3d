"""Whether a request comes straight from one of a configured list of addresses (a proxy's allow-list)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from django.http import HttpRequest

from webadmit_dash.config import IPNetwork


def peer_in(request: HttpRequest, networks: Iterable[IPNetwork]) -> bool:
    """True when the address that connected to us (REMOTE_ADDR, not a header a client could write) is listed."""
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in networks)
