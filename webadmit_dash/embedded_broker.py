"""The embedded Celery broker: kombu's filesystem transport, made safe for concurrent producers and workers.

kombu's own `filesystem` transport creates a message file under its final name and only then writes it (upstream
kombu issue #1551, open since 2022), so a worker polling the queue folder can take the file while it is still
empty: the message is lost and the worker stops with `Unrecoverable error: JSONDecodeError`. Here a producer writes
the message under a name no reader looks at (`.<name>.tmp`, in the same folder), flushes it to disk, and renames it
to its final name; a rename within one filesystem is atomic, so a reader finds the whole message or nothing. A reader
claims a file by renaming it too, so of two workers that list the same file exactly one gets it and the other moves
on. A file that still cannot be decoded (not written by this transport, say) is moved to `rejected/` inside the
queue folder and logged as an error, instead of stopping the worker. The exchange tables in the control folder
(which queues an exchange feeds: the remote control's, for `celery inspect ping`) had the same create-then-write
race between workers starting together; they are rewritten whole too, one writer at a time.

Limits: every process must see the folders on one local filesystem (one machine: network filesystems do not all
rename atomically), and each look at the queue lists and sorts the whole folder, so throughput is a few hundred
tasks a second and falls as a backlog grows (about 150 a second with 20,000 waiting, 2 workers on 2 cores: see
benchmarks/broker.py). For several machines or many busy workers, use Redis. As with kombu's own transport, a
message a worker has taken but not finished is lost if that worker is killed.

Used for `CELERY_BROKER_URL=filesystem://` through Celery's `broker_transport` setting (see settings.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import uuid
from collections.abc import Callable
from queue import Empty
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

logger = logging.getLogger(__name__)

REJECTED = "rejected"


class Channel(filesystem.Channel):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The first process to open the broker makes its folders (kombu expects them made; settings only name them).
        for folder in (self.data_folder_in, self.data_folder_out, self.control_folder):
            os.makedirs(folder, exist_ok=True)

    # celery-types' stubs for kombu disagree with themselves here (filesystem.Channel's `payload` against
    # AbstractChannel's `message`); this follows kombu's code, which passes the message positionally.
    def _put(self, queue: str, payload: dict[str, Any], **kwargs: Any) -> None:  # type: ignore[override]
        # kombu's naming, so that its _size and _purge see the message; the temporary name ends in .tmp, which
        # their filter (`<anything>.<queue>.msg`) and ours never match.
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        write_whole(os.path.join(self.data_folder_out, name), str_to_bytes(dumps(payload)))

    def _get(self, queue: str, timeout: float | None = None) -> dict[str, Any]:
        wanted = f"{queue}.msg"
        folder = self.data_folder_in
        for name in sorted(os.listdir(folder)):
            if name.partition(".")[2] != wanted:
                continue
            claimed = os.path.join(folder, f".{name}.claimed")
            try:
                os.rename(os.path.join(folder, name), claimed)
            except FileNotFoundError:
                continue  # another worker claimed it between our listing and now
            with open(claimed, "rb") as file:
                raw = file.read()
            try:
                payload = loads(bytes_to_str(raw))
                if not isinstance(payload, dict):
                    raise ValueError(f"a JSON {type(payload).__name__}, not an object")
            except Exception as exc:  # whatever is wrong with one file, the worker must go on to the next
                self._reject(claimed, name, raw, exc)
                continue
            if self.store_processed:
                shutil.move(claimed, os.path.join(self.processed_folder, name))
            else:
                os.unlink(claimed)
            return payload
        raise Empty()

    def _reject(self, claimed: str, name: str, raw: bytes, error: Exception) -> None:
        rejected = os.path.join(self.data_folder_in, REJECTED)
        os.makedirs(rejected, exist_ok=True)
        os.replace(claimed, os.path.join(rejected, name))
        logger.error(
            "Broker: message %s could not be decoded (%d bytes: %s); moved to %s, not delivered",
            name,
            len(raw),
            error,
            rejected,
        )

    def _queue_bind(self, exchange: str, routing_key: str, pattern: str | None, queue: str) -> None:
        entry = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        self._update_table(exchange, lambda table: table if entry in table else [entry, *table])

    def _delete(self, queue: str, exchange: str, routing_key: str, pattern: str, *args: Any, **kwargs: Any) -> None:
        # The virtual channel's part (purging the queue), then ours in place of kombu's in-place rewrite.
        super(filesystem.Channel, self)._delete(queue, exchange, routing_key, pattern, *args, **kwargs)
        entry = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        self._update_table(exchange, lambda table: [other for other in table if other != entry])

    def _update_table(self, exchange: str, change: Callable[[list[Any]], list[Any]]) -> None:
        """Rewrites an exchange's table of bound queues (in the control folder) whole, one writer at a time.

        kombu creates a table file and then writes it, so two workers starting at once could each write their own
        (one binding lost: a worker that never hears `inspect ping`) or read the other's empty file and crash.
        """
        file = self._exchange_file(exchange)  # type: ignore[attr-defined]  # kombu's own, missing from the stubs
        self.control_folder.mkdir(exist_ok=True)
        with open(f"{file}.lock", "ab") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)  # released when the file is closed
            table = self.get_table(exchange)
            changed = change(table)
            if changed != table:
                write_whole(str(file), str_to_bytes(dumps(changed)))


def write_whole(path: str, data: bytes) -> None:
    """Writes `path` so that no reader ever sees it part-written: under a temporary name, then renamed."""
    folder, name = os.path.split(path)
    temporary = os.path.join(folder, f".{name}.tmp")
    try:
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            # So that after a crash of the machine the final name never points at a file with nothing in it.
            os.fsync(file.fileno())
        os.replace(temporary, path)  # atomic within one filesystem
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise ChannelError(f"Cannot write {path!r}") from exc


class Transport(filesystem.Transport):
    Channel = Channel

    @property
    def default_connection_params(self) -> dict[str, Any]:
        # Folders on this machine: there is no host. kombu's virtual transports default to 'localhost' and warn
        # "No hostname was supplied" for every new connection, which was a WARNING line per task the web process sent.
        return {"port": self.default_port}
