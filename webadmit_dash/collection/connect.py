"""From a Destination row to the transport that speaks its protocol, with its secret decrypted only here."""

from __future__ import annotations

from pathlib import Path

from webadmit_dash.collection.destinations.base import Refused, Transport
from webadmit_dash.collection.models import Destination
from webadmit_dash.core.crypto import UndecryptableSecret


def transport_for(destination: Destination) -> Transport:
    """The destination's transport; Refused (in words for the trail) when its settings cannot be used."""
    try:
        secret = destination.get_secret()
    except UndecryptableSecret:
        raise Refused(
            f"The secret of destination {destination.name} cannot be decrypted with ENCRYPTION_KEYS; enter it again."
        ) from None
    try:
        return _transport(destination, secret)
    except ValueError as error:  # settings the transport cannot use (a host key or private key that does not parse)
        raise Refused(f"Destination {destination.name} cannot be used: {error}.") from None


def _transport(destination: Destination, secret: str) -> Transport:
    # Each protocol's library is imported when a destination of its kind is used: every worker process loads the
    # tasks, and paramiko and boto3 would add ~16 MB to each refresh worker that never delivers a file.
    from webadmit_dash.collection.destinations.folder import FolderDestination
    from webadmit_dash.collection.destinations.s3 import S3Destination
    from webadmit_dash.collection.destinations.sftp import SftpDestination

    if destination.kind == Destination.Kind.FOLDER:
        return FolderDestination(Path(destination.path))
    if destination.kind == Destination.Kind.SFTP:
        return SftpDestination(
            destination.host,
            destination.port,
            destination.username,
            password=None if destination.uses_private_key else secret or None,
            private_key=secret if destination.uses_private_key else None,
            host_key=destination.host_key,
            directory=destination.directory,
        )
    if destination.kind == Destination.Kind.S3:
        return S3Destination(
            destination.bucket,
            destination.prefix,
            endpoint_url=destination.endpoint_url or None,
            region=destination.region or "us-east-1",
            access_key_id=destination.access_key_id,
            secret_access_key=secret,
        )
    raise Refused(f"Destination {destination.name} is of an unknown kind ({destination.kind!r}).")
