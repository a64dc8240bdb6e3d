"""Where a webhook may send: public addresses only, unless an administrator allows the host (WEBHOOK_ALLOWED_HOSTS).

A webhook's address is typed by whoever holds the admin's webhook permission, who may see no identity at all. Left
unchecked it reaches this machine's other services (the database, Redis), a cloud's metadata service at
169.254.169.254 or the campus network behind the firewall, and the test message tells which ports answer. So an
address must lead to public addresses only: checked when it is saved (a message in the form), and again on every
connection, where the name is resolved once, every address it resolves to is checked, and the socket connects only
to a checked address, so a DNS answer that changes after the check (rebinding) never reaches anything.

Webhook calls ignore the environment's proxy settings: a proxy would resolve and connect for us, to an address
nobody checked.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# IPv6 prefixes that carry an IPv4 address in their last 32 bits (NAT64's well-known prefix, and the deprecated
# IPv4-compatible ::/96): a loopback or private IPv4 address must not slip through inside one.
_IPV4_CARRIERS = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("::/96"))


class RefusedDestination(Exception):
    """The address leads somewhere webhooks may not go; the message says so without naming what it resolved to."""

    def __init__(self, host: str) -> None:
        self.message = (
            f"{host} leads to a loopback, private or otherwise non-public address, which webhooks may not reach. "
            "An administrator can allow this host with WEBHOOK_ALLOWED_HOSTS."
        )
        super().__init__(self.message)


def is_allowed_host(host: str) -> bool:
    """Whether an administrator listed this host (exactly, not its subdomains) in WEBHOOK_ALLOWED_HOSTS."""
    return host.lower().rstrip(".") in settings.WEBHOOK_ALLOWED_HOSTS


def is_public(address: IPAddress) -> bool:
    """Whether the address is one on the public internet (not loopback, private, link-local, shared, reserved,
    multicast or unspecified), including the IPv4 address an IPv6 one may carry."""
    if address.is_multicast or not address.is_global:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        carried = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if carried is None and any(address in prefix for prefix in _IPV4_CARRIERS):
            carried = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if carried is not None:
            return is_public(carried)
    return True


def _address(sockaddr: tuple[Any, ...]) -> IPAddress:
    return ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])  # an IPv6 scope ("%eth0") is not part of it


def resolve(host: str, port: int) -> list[tuple[int, tuple[Any, ...]]]:
    """Every (family, socket address) the host resolves to, for TCP: the one place webhooks ask DNS."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [(family, sockaddr) for family, _, _, _, sockaddr in infos]


def checked_addresses(host: str, port: int) -> list[tuple[int, tuple[Any, ...]]]:
    """The host's addresses, once each is known to be one webhooks may reach; raises RefusedDestination if any is
    not (a name that resolves to a public and a private address is refused: which one a connection takes is not
    ours to choose). Raises socket.gaierror if the name does not resolve."""
    found = resolve(host, port)
    if not is_allowed_host(host) and not all(is_public(_address(sockaddr)) for _, sockaddr in found):
        raise RefusedDestination(host)
    return found


def check_on_save(host: str, port: int) -> None:
    """Refuses an address that leads somewhere webhooks may not go. A name that does not resolve now is accepted:
    it is resolved and checked again on every call."""
    try:
        checked_addresses(host, port)
    except socket.gaierror:
        return


def session() -> requests.Session:
    """A requests session whose every connection goes only to a checked address."""
    checked = requests.Session()
    checked.trust_env = False
    checked.mount("http://", _CheckedAdapter())
    checked.mount("https://", _CheckedAdapter())
    return checked


def _open_checked_socket(connection: HTTPConnection) -> socket.socket:
    """What urllib3's own `_new_conn` does, except that the name is resolved once and only checked addresses are
    connected to."""
    host = connection.host
    try:
        addresses = checked_addresses(host, connection.port or 0)
    except socket.gaierror as error:
        raise NameResolutionError(host, connection, error) from error
    last_error: OSError | None = None
    for family, sockaddr in addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            for option in connection.socket_options or []:
                sock.setsockopt(*option)
            if connection.timeout is None or isinstance(connection.timeout, int | float):
                sock.settimeout(connection.timeout)
            if connection.source_address:
                sock.bind(connection.source_address)
            sock.connect(sockaddr)
            return sock
        except TimeoutError as error:
            sock.close()
            raise ConnectTimeoutError(connection, f"Connection to {host} timed out.") from error
        except OSError as error:
            sock.close()
            last_error = error
    raise NewConnectionError(connection, f"Failed to establish a new connection: {last_error}")


class _CheckedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _open_checked_socket(self)


class _CheckedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _open_checked_socket(self)


class _CheckedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _CheckedHTTPConnection


class _CheckedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


class _CheckedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _CheckedHTTPPool, "https": _CheckedHTTPSPool}
