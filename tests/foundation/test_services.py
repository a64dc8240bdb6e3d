"""The production stack's services really work with our settings: PostgreSQL and a Redis broker."""

from __future__ import annotations

import os
import uuid

import psycopg
from kombu import Connection, Exchange, Queue
from kombu.exceptions import OperationalError

from tests.support.services import service_unavailable
from webadmit_dash.config import parse_database_url

POSTGRES_URL = os.environ.get("WEBADMIT_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("WEBADMIT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def test_postgresql_accepts_a_connection_from_a_database_url():
    database = parse_database_url(POSTGRES_URL)
    try:
        with psycopg.connect(
            dbname=database["NAME"], user=database["USER"], host=database["HOST"], port=database["PORT"] or 5432
        ) as connection:
            version = connection.execute("SHOW server_version_num").fetchone()[0]
    except psycopg.OperationalError as error:
        service_unavailable("PostgreSQL", POSTGRES_URL, str(error).splitlines()[0])
    assert int(version) >= 130000, "Django 5.2 needs PostgreSQL 13 or newer"


def test_redis_broker_round_trips_a_json_message():
    queue = Queue(f"webadmit-test-{uuid.uuid4().hex}", Exchange("webadmit-test"), routing_key="ping", auto_delete=True)
    try:
        with Connection(REDIS_URL, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1)
            with connection.Producer(serializer="json") as producer:
                producer.publish({"identity_id": 2**40}, exchange=queue.exchange, routing_key="ping", declare=[queue])
            with connection.SimpleQueue(queue) as simple_queue:
                message = simple_queue.get(timeout=5)
                message.ack()
    except (OSError, OperationalError) as error:
        service_unavailable("Redis", REDIS_URL, str(error))
    assert message.payload == {"identity_id": 2**40}
