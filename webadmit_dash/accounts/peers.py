"""Where a request comes from: whether it comes straight from one of a configured list of addresses (a proxy's
allow-list), and the client's address as this site counts it (the sign-in lockout, the callback rate limit)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from django.conf import settings
from django.http import HttpRequest

from webadmit_dash.config import IPNetwork


def peer_in(request: HttpRequest, networks: Iterable[IPNetwork]) -> bool:
    """True when the address that connected to us (REMOTE_ADDR, not a header a client could write) is listed."""
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in networks)


def client_address(request: HttpRequest) -> str | None:
    """The address a request (a sign-in, a callback) came from, or None when there is none (a request made in a
    test or a shell).

        Behind a TLS proxy every request arrives from the proxy, so the address the proxy saw is read from the last
        entry of X-Forwarded-For (the one the proxy added); earlier entries are whatever the client sent, and trusting
        them would let an attacker pick a fresh address for every guess. The header is believed only when the request
        comes from one of TRUSTED_PROXIES: anyone reaching the web port directly could write it too. Only a real
        address is returned: the column is an IP address (PostgreSQL's inet refuses anything else).
    """
    candidates = [request.META.get("REMOTE_ADDR", "")]
    if settings.BEHIND_TLS_PROXY and peer_in(request, settings.TRUSTED_PROXIES):
        candidates.insert(0, request.META.get("HTTP_X_FORWARDED_FOR", "").rsplit(",", 1)[-1].strip())
    for candidate in candidates:
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None
