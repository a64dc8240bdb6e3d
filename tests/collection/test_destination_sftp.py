"""The SFTP destination against a real SFTP server over TCP (asyncssh, started by the test, with its own host key):
delivered once under the final name, never overwriting, the host key pinned, and each fault told apart."""

from __future__ import annotations

import dataclasses
import socket
import threading
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncssh
import pytest

from tests.collection.destination_payloads import payload_from_file, payload_of, write_file
from tests.support.sftp_server import SftpServer
from tests.support.waiting import eventually
from webadmit_dash.collection.destinations.base import PayloadUnreadable, Refused, Transient
from webadmit_dash.collection.destinations.sftp import SftpDestination, fingerprint, parse_host_key

DATA = b"id,name\n" + b"1,Ada\n" * 10_000


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SftpServer]:
    (tmp_path / "root" / "incoming").mkdir(parents=True)
    with SftpServer(tmp_path / "root") as running:
        yield running


@pytest.fixture
def incoming(server: SftpServer) -> Path:
    return server.root / "incoming"


def destination(server: SftpServer, **overrides: object) -> SftpDestination:
    settings: dict[str, object] = {
        "password": server.password,
        "private_key": None,
        "host_key": server.host_key_line,
        "directory": "/incoming",
        "timeout": 10,
    }
    settings.update(overrides)
    return SftpDestination("127.0.0.1", server.port, server.username, **settings)  # type: ignore[arg-type]


def test_it_delivers_under_the_final_name_with_no_temporary_file_left(server: SftpServer, incoming: Path) -> None:
    receipt = destination(server).deliver(payload_of("export.csv", DATA))

    assert (incoming / "export.csv").read_bytes() == DATA
    assert sorted(p.name for p in incoming.iterdir()) == ["export.csv"]
    assert receipt.remote_name == "/incoming/export.csv"
    assert receipt.checksum_verified
    assert not receipt.already_there


def test_it_signs_in_with_a_private_key(server: SftpServer, incoming: Path) -> None:
    with_key = destination(server, password=None, private_key=server.client_private_key, directory="incoming")

    receipt = with_key.deliver(payload_of("export.csv", DATA))

    assert receipt.remote_name == "/incoming/export.csv"
    assert (incoming / "export.csv").read_bytes() == DATA


def test_the_same_bytes_again_are_already_there_and_nothing_is_uploaded(server: SftpServer) -> None:
    destination(server).deliver(payload_of("export.csv", DATA))
    files_written = server.files_opened_for_writing

    receipt = destination(server).deliver(payload_of("export.csv", DATA))

    assert receipt.already_there
    assert receipt.checksum_verified
    assert server.files_opened_for_writing == files_written


def test_a_different_file_under_the_name_is_refused_and_left_untouched(server: SftpServer, incoming: Path) -> None:
    (incoming / "export.csv").write_bytes(bytes(len(DATA)))  # the same size: only the checksum tells them apart

    with pytest.raises(Refused) as refused:
        destination(server).deliver(payload_of("export.csv", DATA))

    assert "a different file named export.csv is already in /incoming" in refused.value.message
    assert (incoming / "export.csv").read_bytes() == bytes(len(DATA))
    assert sorted(p.name for p in incoming.iterdir()) == ["export.csv"]


def test_a_crashed_tries_leftover_is_replaced_and_the_file_delivered_once(server: SftpServer, incoming: Path) -> None:
    (incoming / ".export.csv.part").write_bytes(b"half of an earlier try, and longer than the file" * 10_000)

    receipt = destination(server).deliver(payload_of("export.csv", DATA))

    assert not receipt.already_there
    assert (incoming / "export.csv").read_bytes() == DATA
    assert sorted(p.name for p in incoming.iterdir()) == ["export.csv"]


def test_a_server_down_is_transient_and_the_file_is_delivered_once_it_is_up(server: SftpServer, incoming: Path) -> None:
    server.stop()

    with pytest.raises(Transient) as transient:
        destination(server).deliver(payload_of("export.csv", DATA))
    assert transient.value.message == (
        f"export.csv was not delivered to SFTP 127.0.0.1:{server.port}/incoming: could not connect (Connection refused)"
    )

    server.start()
    receipt = destination(server).deliver(payload_of("export.csv", DATA))

    assert not receipt.already_there
    assert sorted(p.name for p in incoming.iterdir()) == ["export.csv"]
    assert (incoming / "export.csv").read_bytes() == DATA


def test_a_wrong_password_is_refused_and_the_password_is_not_said(server: SftpServer) -> None:
    wrong = destination(server, password="not-the-password-at-all")

    with pytest.raises(Refused) as refused:
        wrong.deliver(payload_of("export.csv", DATA))

    assert refused.value.message == (
        f"export.csv was not delivered to SFTP 127.0.0.1:{server.port}/incoming: the server refused the credentials "
        f"of user {server.username} (Authentication failed.)"
    )
    assert "not-the-password-at-all" not in repr(wrong) + str(refused.value) + repr(refused.value)


def test_credentials_the_server_refuses_are_refused(server: SftpServer) -> None:
    server.refuse_authentication = True

    with pytest.raises(Refused, match="the server refused the credentials"):
        destination(server).deliver(payload_of("export.csv", DATA))
    with pytest.raises(Refused, match="the server refused the credentials"):
        destination(server, password=None, private_key=server.client_private_key).deliver(payload_of("a.csv", DATA))


def test_a_changed_host_key_is_refused_and_said(server: SftpServer, incoming: Path) -> None:
    pinned = server.host_key_line
    server.stop()
    server.start(new_host_key=True)

    with pytest.raises(Refused) as refused:
        destination(server, host_key=pinned).deliver(payload_of("export.csv", DATA))

    assert refused.value.message == (
        f"export.csv was not delivered to SFTP 127.0.0.1:{server.port}/incoming: the server's host key changed: "
        f"expected ssh-ed25519 {fingerprint(pinned)}, got ssh-ed25519 {fingerprint(server.host_key_line)}"
    )
    assert list(incoming.iterdir()) == []


def test_an_unknown_host_key_is_refused(server: SftpServer, incoming: Path) -> None:
    other_type = asyncssh.generate_private_key("ecdsa-sha2-nistp256").export_public_key().decode()

    with pytest.raises(Refused) as refused:
        destination(server, host_key=other_type).deliver(payload_of("export.csv", DATA))

    assert "the server's host key is unknown: expected ecdsa-sha2-nistp256 SHA256:" in refused.value.message
    assert f"the server offers ssh-ed25519 {fingerprint(server.host_key_line)}" in refused.value.message
    assert list(incoming.iterdir()) == []


def test_a_corrupted_upload_is_transient_leaves_nothing_and_the_next_try_delivers(
    server: SftpServer, incoming: Path
) -> None:
    server.corrupt_next_uploads(1)

    with pytest.raises(Transient) as transient:
        destination(server).deliver(payload_of("export.csv", DATA))
    assert "a checksum mismatch after upload" in transient.value.message
    assert list(incoming.iterdir()) == []

    receipt = destination(server).deliver(payload_of("export.csv", DATA))
    assert receipt.checksum_verified
    assert (incoming / "export.csv").read_bytes() == DATA


def test_without_checksum_verification_only_the_size_is_checked(server: SftpServer, incoming: Path) -> None:
    server.corrupt_next_uploads(1)

    receipt = destination(server, verify_checksum=False).deliver(payload_of("export.csv", DATA))

    assert not receipt.checksum_verified
    assert (incoming / "export.csv").read_bytes() != DATA  # what the option gives up, in plain sight


def test_a_missing_folder_is_refused(server: SftpServer) -> None:
    with pytest.raises(Refused) as refused:
        destination(server, directory="/outbox").deliver(payload_of("export.csv", DATA))

    assert refused.value.message == (
        f"export.csv was not delivered to SFTP 127.0.0.1:{server.port}/outbox: the folder /outbox does not exist on "
        "the server"
    )


def test_a_server_that_never_answers_is_transient_after_the_timeout() -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        host_key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
        quiet = SftpDestination(
            "127.0.0.1", port, "u", password="p", private_key=None, host_key=host_key, directory="/", timeout=0.5
        )

        with pytest.raises(Transient, match=r"the server did not answer as an SSH server within 0\.5 s"):
            quiet.deliver(payload_of("export.csv", DATA))


def test_the_client_threads_end_after_each_delivery_even_a_failed_one(server: SftpServer) -> None:
    before = threading.active_count()
    destination(server).deliver(payload_of("export.csv", DATA))
    with pytest.raises(Refused):
        destination(server, password="wrong").deliver(payload_of("other.csv", DATA))

    # paramiko's transport thread ends at its next poll after close(); without close() it would linger.
    eventually(lambda: threading.active_count() == before, timeout=5, what="the client's threads to end")


@pytest.mark.slow
def test_a_20_mb_file_is_delivered_with_memory_not_growing_with_its_size(
    server: SftpServer, incoming: Path, tmp_path: Path
) -> None:
    payload = payload_from_file("big.bin", write_file(tmp_path / "big.bin", 20 * 1024 * 1024))
    tracemalloc.start()
    try:
        receipt = destination(server).deliver(payload)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert receipt.checksum_verified
    assert (incoming / "big.bin").stat().st_size == 20 * 1024 * 1024
    # Both ends run in this process (the server in its thread), and both are counted: still under half the file.
    assert peak < 10 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


def test_a_host_key_line_is_read_with_or_without_the_host_before_it(server: SftpServer) -> None:
    line = server.host_key_line
    expected = server.host_key.get_fingerprint("sha256")

    assert fingerprint(line) == expected
    assert fingerprint(f"[127.0.0.1]:{server.port} {line} a comment") == expected
    assert parse_host_key(line).get_name() == "ssh-ed25519"


@pytest.mark.parametrize(
    "line", ["", "hello", "ssh-ed25519", "ssh-ed25519 not-base64!", "ssh-ed25519 AAAA", "ssh-unknown AAAAC3Nz"]
)
def test_a_host_key_that_is_not_one_is_a_clear_value_error(line: str) -> None:
    with pytest.raises(ValueError, match="host key"):
        parse_host_key(line)


def test_a_private_key_that_is_not_one_is_a_value_error_that_does_not_quote_it(server: SftpServer) -> None:
    secret_text = (
        "-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END OPENSSH PRIVATE KEY-----\n"
    )

    with pytest.raises(ValueError) as error:
        destination(server, password=None, private_key=secret_text)

    assert "c2VjcmV0" not in str(error.value)


def test_a_file_arriving_under_the_name_during_the_upload_is_not_overwritten(
    server: SftpServer, incoming: Path
) -> None:
    """The check before the upload saw nothing; SFTP's version 3 rename refuses the taken name (posix-rename would
    replace it)."""

    def open_and_race() -> Iterator[Iterator[bytes]]:
        (incoming / "export.csv").write_bytes(b"the racer's file")
        yield iter([DATA])

    racing = dataclasses.replace(payload_of("export.csv", DATA), open=contextmanager(open_and_race))

    with pytest.raises(Refused, match=r"a different file named export\.csv"):
        destination(server).deliver(racing)

    assert (incoming / "export.csv").read_bytes() == b"the racer's file"
    assert sorted(p.name for p in incoming.iterdir()) == ["export.csv"]


def test_a_payload_that_cannot_be_read_is_its_own_error_not_the_servers(
    server: SftpServer, incoming: Path, tmp_path: Path
) -> None:
    gone = payload_from_file("export.csv", write_file(tmp_path / "archived", 1000))
    (tmp_path / "archived").unlink()

    with pytest.raises(PayloadUnreadable, match=r"the bytes of export\.csv to deliver could not be read"):
        destination(server).deliver(gone)

    assert list(incoming.iterdir()) == []
