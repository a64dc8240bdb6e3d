"""A folder destination: a local folder or a mounted share (where Slate or the SIS picks files up).

The bytes go to `.<name>.part` first (fsynced, then read back and hashed), and reach the final name with `os.link`,
which fails when the name exists: the move is atomic and can never overwrite another file. A plain rename would
replace whatever is there, and a check before it would leave a window for another writer.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
from pathlib import Path

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

# Errors retrying cannot mend: the folder is read-only or its permissions refuse us; or it is missing or not a folder.
_NOT_WRITABLE_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS}
_MISSING_ERRNOS = {errno.ENOENT, errno.ENOTDIR, errno.EISDIR}
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


class FolderDestination:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"FolderDestination({str(self.path)!r})"

    def describe(self) -> str:
        return f"folder {self.path}"

    def deliver(self, payload: Payload) -> Receipt:
        final = self.path / payload.name
        temporary = self.path / payload.temporary_name
        try:
            self._check_folder(payload)
            if final.exists():
                return self._compare_existing(payload, final)
            self._write(payload, temporary)
            if _sha256_of(temporary) != payload.sha256:
                raise Transient(
                    f"{payload.name} was not delivered to {self.describe()}: the copy written there does not match "
                    f"its SHA-256 (a checksum mismatch after writing); it will be tried again"
                )
            try:
                os.link(temporary, final)
            except FileExistsError:
                # Another delivery of the same file won the race, or someone put a file there meanwhile.
                return self._compare_existing(payload, final)
            except FileNotFoundError as error:
                # Our temporary file was removed under us: a second delivery of the same file at the same moment.
                raise Transient(f"{payload.name} was not delivered to {self.describe()}: {error.strerror}") from error
            except OSError as error:
                if error.errno not in (errno.EPERM, errno.EOPNOTSUPP):
                    raise
                # Some shares (FAT, some SMB servers) have no hard links; a rename there would overwrite.
                raise Refused(
                    f"{payload.name} was not delivered to {self.describe()}: the file system of {self.path} does not "
                    f"support hard links, which moving a file into place without overwriting needs ({error.strerror})"
                ) from error
            _fsync_folder(self.path)
            return Receipt(remote_name=str(final), checksum_verified=True, already_there=False)
        except (DeliveryFailed, PayloadUnreadable):
            raise
        except OSError as error:
            raise self._failure(payload, error) from error
        finally:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)

    def _check_folder(self, payload: Payload) -> None:
        if not self.path.is_dir():
            reason = "is not a folder" if self.path.exists() else "does not exist"
            raise Refused(f"{payload.name} was not delivered to {self.describe()}: the folder {reason}")

    def _compare_existing(self, payload: Payload, final: Path) -> Receipt:
        if final.stat().st_size == payload.size and _sha256_of(final) == payload.sha256:
            return Receipt(remote_name=str(final), checksum_verified=True, already_there=True)
        raise Refused(
            f"{payload.name} was not delivered to {self.describe()}: a different file named {payload.name} is "
            f"already in {self.path}; it was left untouched"
        )

    def _write(self, payload: Payload, temporary: Path) -> None:
        # A crashed try's leftover is removed, not truncated: the new bytes go to a new file, so a write can never
        # reach a file that is also linked under the final name. O_EXCL also refuses a planted symbolic link.
        temporary.unlink(missing_ok=True)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        with os.fdopen(descriptor, "wb") as file, read_payload(payload) as sent:
            for chunk in sent:
                file.write(chunk)
            file.flush()
            os.fsync(file.fileno())
        check_sent(payload, sent, self.describe())

    def _failure(self, payload: Payload, error: OSError) -> DeliveryFailed:
        where = f"{payload.name} was not delivered to {self.describe()}"
        reason = error.strerror or str(error)
        if error.errno in _FULL_ERRNOS:
            return Transient(f"{where}: the disk holding {self.path} is full ({reason})")
        if error.errno in _NOT_WRITABLE_ERRNOS:
            return Refused(f"{where}: the folder {self.path} is not writable ({reason})")
        if error.errno in _MISSING_ERRNOS:
            return Refused(f"{where}: {reason} ({error.filename})")
        return Transient(f"{where}: {reason}")


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_folder(path: Path) -> None:
    """Makes the new name itself durable, not only the bytes behind it."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
