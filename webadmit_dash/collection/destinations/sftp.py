"""An SFTP destination (Slate's or the SIS's drop box), through paramiko, with the server's host key pinned.

The admin pastes the server's host key ("ssh-ed25519 AAAA…", as `ssh-keyscan` prints it); the client trusts that key
and nothing else (RejectPolicy, no known_hosts file, no agent, no keys from ~/.ssh), so a changed or unknown key is
refused, never learnt. The bytes go to `.<name>.part`, its size is checked, then its SHA-256 by reading it back (SFTP
has no checksum command servers agree on), then it is renamed with the version 3 `rename`, which refuses an
existing target: `posix-rename` would overwrite.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import hashlib
import io
import posixpath
import stat
from collections.abc import Iterator

import paramiko
from paramiko.pkey import UnknownKeyType

from webadmit_dash.collection.destinations.base import (
    CHUNK_SIZE,
    DeliveryFailed,
    Payload,
    PayloadUnreadable,
    Receipt,
    Refused,
    Transient,
    check_sent,
    read_payload,
)

# Reading back: this many bytes of requests in flight at once (paramiko pipelines them), so memory stays bounded and
# a distant server is not read one round trip at a time.
READ_BACK_BATCH = 4 * CHUNK_SIZE


def parse_host_key(line: str) -> paramiko.PKey:
    """The public key in an OpenSSH line: "ssh-ed25519 AAAA… comment", or a known_hosts / ssh-keyscan line with the
    host first. ValueError, in words for an admin, for anything else."""
    fields = line.strip().split()
    for position in range(min(len(fields) - 1, 2)):
        key_type, data = fields[position], fields[position + 1]
        if not _looks_like_key_type(key_type):
            continue
        try:
            blob = base64.b64decode(data, validate=True)
            return paramiko.PKey.from_type_string(key_type, blob)
        except (binascii.Error, paramiko.SSHException, UnknownKeyType, ValueError, TypeError) as error:
            raise ValueError(f"the {key_type} host key's data is not a valid key ({error})") from None
    raise ValueError(
        'a host key is one line such as "ssh-ed25519 AAAA…" (as ssh-keyscan prints it or the server\'s '
        "/etc/ssh/ssh_host_ed25519_key.pub holds)"
    )


def fingerprint(host_key_line: str) -> str:
    """ "SHA256:…", as `ssh-keygen -lf` and ssh's own prompts show it, for the admin to compare."""
    return str(parse_host_key(host_key_line).fingerprint)


def parse_private_key(text: str) -> paramiko.PKey:
    """A private key from its PEM or OpenSSH text (ed25519, ECDSA or RSA, without a passphrase). The ValueError never
    quotes the text."""
    for key_class in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return key_class.from_private_key(io.StringIO(text))
        except paramiko.PasswordRequiredException:
            raise ValueError("the private key is protected by a passphrase: give one without") from None
        except (paramiko.SSHException, ValueError, TypeError, IndexError):
            continue
    raise ValueError("the private key is not an ed25519, ECDSA or RSA key in PEM or OpenSSH form")


def _looks_like_key_type(word: str) -> bool:
    return word.startswith(("ssh-", "ecdsa-sha2-", "sk-"))


class SftpDestination:
    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        *,
        password: str | None,
        private_key: str | None,
        host_key: str,
        directory: str,
        timeout: float = 20,
        verify_checksum: bool = True,
    ) -> None:
        if not password and not private_key:
            raise ValueError("an SFTP destination needs a password or a private key")
        self.host = host
        self.port = port
        self.username = username
        self._password = password or None
        self._private_key = parse_private_key(private_key) if private_key else None
        self.host_key = parse_host_key(host_key)
        self.directory = directory or "."
        self.timeout = timeout
        self.verify_checksum = verify_checksum

    def __repr__(self) -> str:
        return f"SftpDestination({self.describe()!r})"

    def describe(self) -> str:
        where = self.directory if self.directory.startswith("/") else f"/~/{self.directory}"
        return f"SFTP {self.host}:{self.port}{where.rstrip('/') or '/'}"

    def deliver(self, payload: Payload) -> Receipt:
        where = f"{payload.name} was not delivered to {self.describe()}"
        client = paramiko.SSHClient()
        try:
            self._connect(client, where)
            sftp = client.open_sftp()
            sftp.get_channel().settimeout(self.timeout)  # type: ignore[union-attr]
            return _Upload(sftp, self, payload, where).run()
        except (DeliveryFailed, PayloadUnreadable):
            raise
        except TimeoutError as error:
            raise Transient(f"{where}: the server did not answer within {self.timeout:g} s") from error
        except (EOFError, paramiko.SSHException) as error:
            raise Transient(f"{where}: the connection was lost ({_reason(error)})") from error
        except OSError as error:
            raise _sftp_failure(where, error) from error
        finally:
            # Also after a failed connect: paramiko's transport thread would otherwise outlive the try.
            client.close()

    def _connect(self, client: paramiko.SSHClient, where: str) -> None:
        # paramiko looks keys up as known_hosts names them: the bare host on port 22, "[host]:port" otherwise.
        known_as = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        client.get_host_keys().add(known_as, self.host_key.get_name(), self.host_key)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(
                self.host,
                self.port,
                self.username,
                password=self._password,
                pkey=self._private_key,
                timeout=self.timeout,
                banner_timeout=self.timeout,
                auth_timeout=self.timeout,
                channel_timeout=self.timeout,
                look_for_keys=False,
                allow_agent=False,
            )
        except paramiko.BadHostKeyException as error:
            raise Refused(self._host_key_refusal(where, error.key)) from None
        except paramiko.AuthenticationException as error:
            raise Refused(
                f"{where}: the server refused the credentials of user {self.username} ({_reason(error)})"
            ) from None
        except paramiko.SSHException as error:
            if "not found in known_hosts" in str(error) or "no acceptable host key" in str(error):
                raise Refused(f"{where}: the server's host key is unknown ({_reason(error)})") from None
            if "Incompatible" in str(error):
                reason = _reason(error)
                raise Refused(f"{where}: the server offers no algorithm this client accepts ({reason})") from None
            if "banner" in str(error) or "No existing session" in str(error):
                # A port that accepts connections but says nothing (or not SSH) within the timeout.
                raise Transient(
                    f"{where}: the server did not answer as an SSH server within {self.timeout:g} s ({_reason(error)})"
                ) from error
            raise
        except (OSError, EOFError) as error:
            if isinstance(error, TimeoutError):
                raise
            if isinstance(error, paramiko.ssh_exception.NoValidConnectionsError):
                reasons = {getattr(failure, "strerror", None) or str(failure) for failure in error.errors.values()}
                raise Transient(f"{where}: could not connect ({'; '.join(sorted(reasons))})") from error
            raise Transient(f"{where}: could not connect ({_reason(error)})") from error

    def _host_key_refusal(self, where: str, offered: paramiko.PKey) -> str:
        expected = f"{self.host_key.get_name()} {self.host_key.fingerprint}"
        got = f"{offered.get_name()} {offered.fingerprint}"
        if offered.get_name() != self.host_key.get_name():
            return f"{where}: the server's host key is unknown: expected {expected}, the server offers {got}"
        return f"{where}: the server's host key changed: expected {expected}, got {got}"


class _Upload:
    """One delivery over an open SFTP session."""

    def __init__(self, sftp: paramiko.SFTPClient, destination: SftpDestination, payload: Payload, where: str) -> None:
        self.sftp = sftp
        self.destination = destination
        self.payload = payload
        self.where = where

    def run(self) -> Receipt:
        folder = self._folder()
        final = posixpath.join(folder, self.payload.name)
        temporary = posixpath.join(folder, self.payload.temporary_name)
        if self._exists(final):
            self._remove_quietly(temporary)
            return self._compare_existing(final)
        try:
            self._write(temporary)
            self._verify(temporary)
            try:
                self.sftp.rename(temporary, final)
            except OSError as error:
                if self._exists(final):
                    # Someone put a file there meanwhile (or an earlier try's rename answered too late).
                    return self._compare_existing(final)
                if error.errno in (errno.EACCES, errno.EPERM):
                    raise
                raise Transient(f"{self.where}: the move to its final name failed ({_reason(error)})") from error
            return Receipt(remote_name=final, checksum_verified=self.destination.verify_checksum, already_there=False)
        finally:
            self._remove_quietly(temporary)

    def _folder(self) -> str:
        directory = self.destination.directory
        try:
            attributes = self.sftp.stat(directory)
        except OSError as error:
            if error.errno == errno.ENOENT:
                raise Refused(f"{self.where}: the folder {directory} does not exist on the server") from None
            raise
        if not stat.S_ISDIR(attributes.st_mode or 0):
            raise Refused(f"{self.where}: {directory} is not a folder on the server")
        return self.sftp.normalize(directory)

    def _exists(self, path: str) -> bool:
        try:
            self.sftp.stat(path)
        except FileNotFoundError:
            return False
        except OSError as error:
            if error.errno == errno.ENOENT:
                return False
            raise
        return True

    def _write(self, temporary: str) -> None:
        # A crashed try's leftover is removed and the new one created exclusively: new bytes go to a new file, never
        # into one that might already be renamed or linked elsewhere.
        self._remove_quietly(temporary)
        with self.sftp.open(temporary, "wxb") as remote, read_payload(self.payload) as sent:
            remote.set_pipelined(True)
            for chunk in sent:
                remote.write(chunk)
        check_sent(self.payload, sent, self.destination.describe())

    def _verify(self, temporary: str) -> None:
        size = self.sftp.stat(temporary).st_size
        if size != self.payload.size:
            raise Transient(
                f"{self.where}: the server holds {size:,} bytes of it after the upload, not {self.payload.size:,}"
            )
        if self.destination.verify_checksum and self._sha256_of(temporary) != self.payload.sha256:
            raise Transient(
                f"{self.where}: the copy on the server does not match its SHA-256 (a checksum mismatch after upload)"
            )

    def _compare_existing(self, final: str) -> Receipt:
        size = self.sftp.stat(final).st_size
        verify = self.destination.verify_checksum
        if size == self.payload.size and (not verify or self._sha256_of(final) == self.payload.sha256):
            return Receipt(remote_name=final, checksum_verified=verify, already_there=True)
        raise Refused(
            f"{self.where}: a different file named {self.payload.name} is already in {posixpath.dirname(final)}; "
            f"it was left untouched"
        )

    def _sha256_of(self, path: str) -> str:
        digest = hashlib.sha256()
        for chunk in self._read(path):
            digest.update(chunk)
        return digest.hexdigest()

    def _read(self, path: str) -> Iterator[bytes]:
        """The file's bytes, a batch of pipelined reads at a time: paramiko's own prefetch of a whole file keeps
        whatever arrives faster than it is read."""
        size = self.sftp.stat(path).st_size or 0
        with self.sftp.open(path, "rb") as remote:
            for start in range(0, size, READ_BACK_BATCH):
                end = min(start + READ_BACK_BATCH, size)
                ranges = [(offset, min(CHUNK_SIZE, end - offset)) for offset in range(start, end, CHUNK_SIZE)]
                yield from remote.readv(ranges)

    def _remove_quietly(self, path: str) -> None:
        # Absent (the usual case), or the connection is gone: the next try writes over it.
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
            self.sftp.remove(path)


def _sftp_failure(where: str, error: OSError) -> DeliveryFailed:
    reason = _reason(error)
    if error.errno in (errno.EACCES, errno.EPERM):
        return Refused(f"{where}: the server denied permission ({reason})")
    if error.errno == errno.ENOENT:
        return Refused(f"{where}: no such file or folder on the server ({reason})")
    return Transient(f"{where}: {reason}")


def _reason(error: BaseException) -> str:
    return str(error) or type(error).__name__
