"""A real SFTP server over TCP for tests: asyncssh in a thread of its own with its own event loop, on a free loopback
port, with a generated ed25519 host key, one user (password and public-key authentication) and its files under a
temporary root folder it cannot leave (asyncssh's chroot).

    with SftpServer(root) as server:
        SftpDestination("127.0.0.1", server.port, server.username, password=server.password,
                        private_key=None, host_key=server.host_key_line, directory="/incoming")

Switches for faults: `stop()` then `start()` (down, then up again on the same port), `start(new_host_key=True)` (the
host key changed), `refuse_authentication` (every credential refused), `corrupt_next_uploads(n)` (a byte flipped
in each of the next n files written).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import asyncssh

from tests.support.waiting import free_port

T = TypeVar("T")

USERNAME = "delivery"
PASSWORD = "correct horse battery staple"


class SftpServer:
    def __init__(self, root: Path, *, port: int | None = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.username = USERNAME
        self.password = PASSWORD
        self.client_key = asyncssh.generate_private_key("ssh-ed25519")
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.refuse_authentication = False
        self.files_opened_for_writing = 0
        self._corrupt_remaining = 0
        self._lock = threading.Lock()
        self._listener: asyncssh.SSHAcceptor | None = None
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sftp-server", daemon=True)
        self._thread.start()

    # What a client needs.

    def destination(
        self, *, name: str = "Slate SFTP", directory: str = "/incoming", password: str | None = None
    ) -> Any:
        """A saved SFTP Destination pointing at this server, pinning its host key (the admin's row, as a test needs
        it); `password` another than the server's, to be refused."""
        from webadmit_dash.collection.models import Destination

        destination = Destination(
            name=name,
            kind=Destination.Kind.SFTP,
            host="127.0.0.1",
            port=self.port,
            username=self.username,
            directory=directory,
            host_key=self.host_key_line,
        )
        destination.set_secret(password or self.password)
        destination.save()
        return destination

    @property
    def host_key_line(self) -> str:
        """The host key as an OpenSSH public-key line, "ssh-ed25519 AAAA…", as an admin pastes it."""
        return self.host_key.export_public_key().decode().strip()

    @property
    def client_private_key(self) -> str:
        """The user's private key, OpenSSH text (its public half is authorised)."""
        return self.client_key.export_private_key().decode()

    # Switches.

    def corrupt_next_uploads(self, count: int) -> None:
        with self._lock:
            self._corrupt_remaining = count

    def _take_corruption(self) -> bool:
        with self._lock:
            self.files_opened_for_writing += 1
            if self._corrupt_remaining > 0:
                self._corrupt_remaining -= 1
                return True
            return False

    # Up and down.

    def start(self, *, new_host_key: bool = False) -> None:
        if new_host_key:
            self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self._run(self._listen())

    def stop(self) -> None:
        """Stops listening and closes the connections accepted: closing the listener alone leaves them open."""
        self._run(self._close())

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> SftpServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=30)

    async def _listen(self) -> None:
        if self._listener is not None:
            return
        server = self

        class Server(asyncssh.SSHServer):
            def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
                self.conn = conn
                server._connections.add(conn)

            def connection_lost(self, exc: Exception | None) -> None:
                server._connections.discard(self.conn)

            def begin_auth(self, username: str) -> bool:
                return True

            def password_auth_supported(self) -> bool:
                return True

            def validate_password(self, username: str, password: str) -> bool:
                return not server.refuse_authentication and username == server.username and password == server.password

            def public_key_auth_supported(self) -> bool:
                return True

            def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
                return (
                    not server.refuse_authentication
                    and username == server.username
                    and key.export_public_key() == server.client_key.export_public_key()
                )

        self._listener = await asyncssh.listen(
            "127.0.0.1",
            self.port,
            server_factory=Server,
            server_host_keys=[self.host_key],
            sftp_factory=lambda chan: _CorruptingSFTPServer(chan, server),
            allow_scp=False,
            reuse_address=True,
        )

    async def _close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            await self._listener.wait_closed()
            self._listener = None
        for conn in list(self._connections):
            conn.close()
            await conn.wait_closed()
        self._connections.clear()


class _CorruptingSFTPServer(asyncssh.SFTPServer):
    """asyncssh's own file server under the root, flipping one byte of a file being written when told to."""

    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], server: SftpServer) -> None:
        super().__init__(chan, chroot=os.fsencode(server.root))
        self._server = server
        self._to_corrupt: set[int] = set()

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        file = super().open(path, pflags, attrs)
        if pflags & asyncssh.FXF_WRITE and self._server._take_corruption():
            self._to_corrupt.add(id(file))
        return file

    def write(self, file_obj: object, offset: int, data: bytes) -> int:
        if id(file_obj) in self._to_corrupt and data:
            self._to_corrupt.discard(id(file_obj))
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        return super().write(file_obj, offset, data)  # type: ignore[return-value]

    def close(self, file_obj: object) -> None:
        self._to_corrupt.discard(id(file_obj))
        super().close(file_obj)
