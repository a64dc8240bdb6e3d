"""The embedded broker (webadmit_dash/embedded_broker.py): a message is seen whole or not at all, each by one
reader, and a file that cannot be decoded is set aside instead of stopping the worker; then the same under load,
with real worker processes and concurrent producers.

The stress test runs on the product's transport; `BROKER_STRESS_TRANSPORT=old` runs it on kombu's own filesystem
transport instead, which fails it (kombu issue #1551).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from queue import Empty
from types import SimpleNamespace
from typing import Any

import pytest
from django.conf import settings
from kombu import Connection

from webadmit_dash import embedded_broker
from webadmit_dash.celery import app as celery_app
from webadmit_dash.embedded_broker import Channel, Transport

QUEUE = "jobs"


def stress(transport: str, *options: str) -> SimpleNamespace:
    """The broker benchmark (benchmarks/broker.py) run as the program it is, its result read from its JSON line."""
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.broker", f"--transport={transport}", *options, "--json"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    return SimpleNamespace(**json.loads(run.stdout.splitlines()[-1]))


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, Path]:
    folders = {"queue": tmp_path / "queue", "control": tmp_path / "control"}
    for folder in folders.values():
        folder.mkdir()
    return folders


def connect(folders: dict[str, Path]) -> Connection:
    options = {
        "data_folder_in": str(folders["queue"]),
        "data_folder_out": str(folders["queue"]),
        "control_folder": str(folders["control"]),
    }
    return Connection("filesystem://", transport=Transport, transport_options=options)


@pytest.fixture
def channel(folders: dict[str, Path]) -> Iterator[Channel]:
    with connect(folders) as connection:
        yield connection.default_channel


def message(number: int) -> dict[str, Any]:
    return {"body": str(number), "properties": {"delivery_info": {}}}


def test_the_default_broker_uses_the_embedded_transport():
    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        pytest.skip(f"this run's broker is {settings.CELERY_BROKER_URL.split('://')[0]}")
    with celery_app.connection_for_write() as connection:
        assert isinstance(connection.transport, Transport)


def test_a_message_round_trips_and_leaves_nothing_in_the_folder(channel, folders):
    channel._put(QUEUE, message(1))

    assert channel._size(QUEUE) == 1
    assert channel._get(QUEUE) == message(1)
    assert os.listdir(folders["queue"]) == []
    with pytest.raises(Empty):
        channel._get(QUEUE)


def test_a_message_becomes_visible_only_once_it_is_written_whole(channel, folders, monkeypatch):
    replace = os.replace
    seen_before_rename = []

    def spy(source: str, destination: str) -> None:
        with open(source, encoding="utf-8") as file:
            seen_before_rename.append(json.load(file))
        assert channel._size(QUEUE) == 0, "a reader would see the message before it is written"
        with pytest.raises(Empty):
            channel._get(QUEUE)
        replace(source, destination)

    monkeypatch.setattr(embedded_broker.os, "replace", spy)
    channel._put(QUEUE, message(1))
    monkeypatch.undo()

    assert seen_before_rename == [message(1)]
    assert channel._get(QUEUE) == message(1)


def test_an_undecodable_message_is_set_aside_and_logged_and_the_next_one_delivered(channel, folders, caplog):
    # Named to sort before any message this transport writes (`<milliseconds>_<uuid>.<queue>.msg`).
    (folders["queue"] / f"0_empty.{QUEUE}.msg").write_bytes(b"")
    (folders["queue"] / f"0_garbled.{QUEUE}.msg").write_bytes(b"\xff{")
    (folders["queue"] / f"0_list.{QUEUE}.msg").write_bytes(b"[]")
    channel._put(QUEUE, message(1))

    with caplog.at_level(logging.ERROR, logger="webadmit_dash.embedded_broker"):
        assert channel._get(QUEUE) == message(1)

    rejected = folders["queue"] / "rejected"
    assert sorted(os.listdir(rejected)) == [f"0_empty.{QUEUE}.msg", f"0_garbled.{QUEUE}.msg", f"0_list.{QUEUE}.msg"]
    assert len(caplog.records) == 3
    assert all(record.levelno == logging.ERROR and "not delivered" in record.getMessage() for record in caplog.records)
    assert os.listdir(folders["queue"]) == ["rejected"]


def test_a_message_another_reader_took_first_is_skipped(channel, monkeypatch):
    channel._put(QUEUE, message(1))
    listdir = os.listdir
    # Listed by this reader, claimed by another before this one could.
    monkeypatch.setattr(embedded_broker.os, "listdir", lambda path: [f"0_gone.{QUEUE}.msg", *listdir(path)])

    assert channel._get(QUEUE) == message(1)


def test_concurrent_readers_share_the_messages_without_loss_or_duplicate(folders):
    count = 400
    with connect(folders) as connection:
        for number in range(count):
            connection.default_channel._put(QUEUE, message(number))
    received: list[list[str]] = [[], [], [], []]

    def read(into: list[str]) -> None:
        with connect(folders) as connection:
            channel = connection.default_channel
            while True:
                try:
                    into.append(channel._get(QUEUE)["body"])
                except Empty:
                    return

    readers = [threading.Thread(target=read, args=(into,)) for into in received]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()

    everything = [body for into in received for body in into]
    assert sorted(everything, key=int) == [str(number) for number in range(count)]


def test_workers_binding_at_once_all_keep_their_binding(folders):
    # What workers starting together do with their remote-control queues: kombu's own transport keeps one of them.
    barrier = threading.Barrier(8)
    errors: list[Exception] = []

    def bind(number: int) -> None:
        with connect(folders) as connection:
            barrier.wait()
            try:
                connection.default_channel._queue_bind("celery.pidbox", "", "", f"worker{number}.celery.pidbox")
            except Exception as error:
                errors.append(error)

    binders = [threading.Thread(target=bind, args=(number,)) for number in range(8)]
    for binder in binders:
        binder.start()
    for binder in binders:
        binder.join()

    with connect(folders) as connection:
        table = connection.default_channel.get_table("celery.pidbox")
    assert errors == []
    assert sorted(entry.queue for entry in table) == [f"worker{number}.celery.pidbox" for number in range(8)]


def test_deleting_a_queue_removes_only_its_binding(channel):
    for queue in ("reply-1", "reply-2"):
        channel._queue_bind("reply.celery.pidbox", queue, "", queue)
    channel._put("reply-1", message(1))

    channel._delete("reply-1", "reply.celery.pidbox", "reply-1", "", "reply-1")

    assert [entry.queue for entry in channel.get_table("reply.celery.pidbox")] == ["reply-2"]
    assert channel._size("reply-1") == 0


@pytest.mark.worker
def test_four_producers_and_two_worker_processes_lose_and_duplicate_nothing(tmp_path):
    # Producers paced below what the workers can take, and workers looking every 10 ms: the queue stays nearly
    # empty, so readers keep meeting messages just published, which is where kombu's own transport loses them.
    transport = os.environ.get("BROKER_STRESS_TRANSPORT", "atomic")
    result = stress(transport, "--tasks=1000", "--rate=100", "--polling-interval=0.01", "--stall=10")

    assert result.published == 4000
    counts = {
        "lost": result.lost,
        "duplicated": result.duplicated,
        "crashes": result.crashes,
        "unrecoverable": result.unrecoverable,
        "rejected": result.rejected,
    }
    assert counts == dict.fromkeys(counts, 0), result.logs
    assert result.received == 4000
    assert result.answered_ping == 2, "both workers still answer the remote control"


def test_a_connection_does_not_warn_about_a_missing_hostname(folders, caplog):
    # The folders need no host; kombu's default of 'localhost' came with a warning for every task sent.
    with caplog.at_level(logging.WARNING), connect(folders) as connection:
        connection.default_channel.basic_publish(message(1), exchange="", routing_key=QUEUE)
        assert connection.info()["hostname"] is None
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING] == []
