"""Schemathesis against the live API: generated requests for every operation of /api/v1/openapi.json, with a
valid token, must never get a 500 nor an answer that breaks the schema (status, content type, body)."""

from __future__ import annotations

import json
from datetime import date

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from tests.support.factories import make_export, make_file
from webadmit_dash.api import tokens
from webadmit_dash.api.v1 import api
from webadmit_dash.core.models import BatchZip, Kind, UserIdentity
from webadmit_dash.engine import credentials
from webadmit_dash.webadmit.statuses import FileStatus

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def api_world(live_server, sim_credential, world, admin_user):
    """Identities and files of every status on the simulator (downloads stay on this machine), a batch with zips,
    and a token."""
    credentials.import_identities(sim_credential)
    for identity in UserIdentity.objects.all():
        for n, state in enumerate(world.files(identity.webadmit_id)):
            export = world.export(state.export_id)
            make_file(
                identity,
                list(FileStatus)[n % len(FileStatus)],
                webadmit_id=state.id,
                export=make_export(identity, export.id, f"=formula {export.name}"),
                gone=n == 5,
            )
        # A PDF Manager batch with its zips (zip ids the simulator does not know: their downloads are refused).
        batch = make_file(
            identity, FileStatus.AVAILABLE, export=make_export(identity, 1, "Transcripts", Kind.PDF_BATCH)
        )
        for part in (1, 2):
            BatchZip.objects.create(export_file=batch, zip_webadmit_id=900 + part, part=part, parts=2)
    return tokens.create(admin_user, "schemathesis").secret


# The schema /api/v1/openapi.json serves, built by the API itself: no request at collection time (each run of
# pytest collects this module, even when it runs none of its tests); the requests then go over real HTTP to the
# live server. (schemathesis.pytest.from_fixture, which could read it from the live server, does not run under
# pytest 9 yet.) The JSON round trip gives the plain types the served document has.
schema = schemathesis.openapi.from_dict(json.loads(json.dumps(api.get_openapi_schema())))


def _day(value: object) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        return None


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_honours_its_schema(case, live_server, api_world):
    query = case.query or {}
    given = [query[name] for name in ("seen_from", "seen_to") if query.get(name)]
    days = [_day(query.get(name)) for name in ("seen_from", "seen_to")]
    readable = len([day for day in days if day]) == len(given) and query.get("when", "") in (
        "",
        "today",
        "yesterday",
        "7d",
    )
    if readable and ((query.get("when") and given) or (all(days) and days[0] > days[1])):
        # What one parameter's schema cannot say: a preset with dates, or dates the wrong way round, are refused in
        # words (a 422 as the schema describes), not answered with a list that means something else.
        response = case.call(base_url=live_server.url, headers={"Authorization": f"Bearer {api_world}"})
        # (test_api_dates checks the words; here another part the case spoils, a field or the token, may be the one
        # refused first.)
        assert response.status_code in (401, 422), response.text
        return
    # Downloads are not followed: the redirect itself is the answer the schema describes.
    case.call_and_validate(
        base_url=live_server.url,
        headers={"Authorization": f"Bearer {api_world}"},
        allow_redirects=False,
        # Unknown query parameters are ignored by design, as by the pages (and most HTTP APIs): only that check,
        # which expects them refused, is left out. Every other check runs, on valid and invalid requests alike.
        excluded_checks=[checks.negative_data_rejection],
    )
