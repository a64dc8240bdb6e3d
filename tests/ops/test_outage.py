"""A PostgreSQL outage: every page, poll and API call answers 503 in words with Retry-After (not an instant 500),
and the web server recovers by itself when the database is back.

For real: a PostgreSQL of the test's own (tests/support/postgres.py), migrated, served by the production gunicorn
(tests/support/webserver.py), then stopped and started again under it. Runs the same on either suite backend.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from django.db import InterfaceError, OperationalError, connection

from tests.support.postgres import OwnPostgres, manage, migrated_postgres
from tests.support.waiting import eventually
from tests.support.webserver import GunicornServer
from webadmit_dash.ops.outage import is_database_unreachable

pytestmark = [pytest.mark.services, pytest.mark.slow]

USER, PASSWORD = "quinn", "correct horse battery staple"
HTMX = {"HX-Request": "true"}
MAKE_USER_AND_TOKEN = f"""
from django.contrib.auth.models import User
from webadmit_dash.api import tokens
user = User.objects.create_superuser({USER!r}, "quinn@example.edu", {PASSWORD!r})
print(tokens.create(user, "outage test").secret)
"""


@pytest.fixture
def postgres() -> Iterator[OwnPostgres]:
    with migrated_postgres() as server:
        yield server


def signed_in(server: GunicornServer) -> requests.Session:
    session = requests.Session()
    session.get(f"{server.url}/accounts/login/", timeout=10)
    answer = session.post(
        f"{server.url}/accounts/login/",
        {"username": USER, "password": PASSWORD, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        timeout=10,
    )
    assert answer.url.rstrip("/") == server.url, "signed in"
    return session


def test_while_postgresql_is_down_pages_polls_and_the_api_answer_503_in_words_then_recover_by_themselves(postgres):
    token = manage(postgres.url, "shell", "-c", MAKE_USER_AND_TOKEN).strip().splitlines()[-1]
    api = {"Authorization": f"Bearer {token}"}
    # One process, so that its log lines can be counted exactly (each process recovers the same way).
    with GunicornServer(workers=1, env={"DATABASE_URL": postgres.url}) as server:
        browser = signed_in(server)
        assert browser.get(f"{server.url}/", timeout=10).status_code == 200
        assert server.get("/api/v1/files", headers=api).status_code == 200

        postgres.stop()
        for _ in range(3):
            page = browser.get(f"{server.url}/", timeout=10)
            assert page.status_code == 503, page.text[:500]
            assert "The database is not answering; this page will retry." in page.text
            assert page.headers["Retry-After"] == "15" and '<meta http-equiv="refresh" content="15">' in page.text

            poll = browser.get(f"{server.url}/files/poll/", headers=HTMX, timeout=10)
            assert poll.status_code == 503 and poll.headers["Retry-After"] == "15"
            assert poll.text == "The database is not answering; this page will retry."

            answer = server.get("/api/v1/files", headers=api)
            assert answer.status_code == 503 and answer.headers["Retry-After"] == "15"
            assert answer.json() == {"detail": "The database is not answering; try again in a moment."}
        assert "Internal Server Error" not in page.text and PASSWORD not in page.text

        postgres.start()
        eventually(lambda: browser.get(f"{server.url}/", timeout=10).status_code == 200, 20, "the pages back")
        for _ in range(4):
            assert browser.get(f"{server.url}/", timeout=10).status_code == 200
            assert server.get("/api/v1/files", headers=api).status_code == 200

        log = server.log()
    # One line when the outage starts and one when it ends, not a traceback per request.
    assert log.count("The database is not answering (OperationalError)") == 1, log[-4000:]
    assert log.count("The database answers again after") == 1, log[-4000:]
    assert "Traceback" not in log and "Internal Server Error" not in log, log[-4000:]


@pytest.mark.django_db
def test_a_query_that_fails_on_a_connection_that_works_is_not_an_outage():
    """A lock timeout or a deadlock stays the 500 it was: only a connection that is gone, or could not be made,
    turns pages into "the database is not answering"."""
    connection.ensure_connection()

    assert not is_database_unreachable(OperationalError("deadlock detected"))
    assert not is_database_unreachable(ValueError("not a database error"))
    assert is_database_unreachable(InterfaceError("connection already closed"))
