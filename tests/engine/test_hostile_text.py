"""Names WebAdMIT sends are data typed by people: a NUL, 10,000 characters, line breaks or markup in one of them is
stored cleaned and cut to its column on SQLite and PostgreSQL alike (PostgreSQL refuses NUL and over-long varchars,
which SQLite accepts), and a storage error on one identity shows on that identity, in words, leaving the others be."""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse

from tests.engine.test_refresh import reload
from webadmit_dash.core import text
from webadmit_dash.core.models import Export, ExportFile, Kind, StatusChange, UserIdentity
from webadmit_dash.core.problems import ErrorKind
from webadmit_dash.engine.refresh import Outcome, refresh_identity
from webadmit_dash.simulator.data import HOSTILE_NAMES, SimulatedWorld

pytestmark = pytest.mark.django_db

LONG_NAME = max(HOSTILE_NAMES, key=len)


@pytest.fixture
def world() -> SimulatedWorld:
    # Two identities of five exports each: every hostile name is an export's, and the first identity's names too.
    return SimulatedWorld(
        seed=3, identities=2, files_per_identity=6, pace=86_400, new_run_every=None, hostile_names=True
    )


def _column_length(model, field: str) -> int:
    return model._meta.get_field(field).max_length


def test_export_names_with_a_nul_or_10000_characters_are_stored_cleaned_and_cut_to_their_column(sim_identities):
    for identity in sim_identities:
        assert refresh_identity(identity.pk).outcome is Outcome.REFRESHED

    names = list(Export.objects.values_list("name", flat=True))
    assert len(names) == 10 and all("\x00" not in name for name in names)
    assert "NightlyBanner Export" in names, "the NUL is removed, nothing else"
    limit = _column_length(Export, "name")
    cut = [name for name in names if name.startswith("Long name")]
    assert cut == [text.fit(LONG_NAME, limit)] and len(cut[0]) == limit and cut[0].endswith("…")
    assert "<script>alert(1)</script>" in names, "markup is stored as sent: each page escapes it"
    assert all(ExportFile.objects.filter(identity=identity).exists() for identity in sim_identities)


def test_pdf_manager_template_names_with_a_nul_or_10000_characters_are_stored_cleaned_and_cut(sim_identities):
    UserIdentity.objects.update(watch_pdf_batches=True)
    for identity in sim_identities:
        assert refresh_identity(identity.pk).outcome is Outcome.REFRESHED

    templates = Export.objects.filter(kind=Kind.PDF_BATCH)
    assert templates.count() == 8
    texts = [text for row in templates.values_list("name", "list_name") for text in row]
    assert all("\x00" not in each for each in texts)
    limit = _column_length(Export, "name")
    assert all(len(each) <= limit for each in texts) and any(each.startswith("Long name") for each in texts)
    assert not ExportFile.objects.filter(kind=Kind.PDF_BATCH, export__isnull=True).exists()


def test_an_identity_field_of_10000_characters_is_imported_cut_to_its_column(sim_identities):
    identity = UserIdentity.objects.get(institution__startswith="Long name")
    assert len(identity.institution) == _column_length(UserIdentity, "institution")
    assert identity.institution.endswith("…")
    assert UserIdentity.objects.filter(association="Nightly Banner Export".replace(" ", "", 1)).exists()


def test_import_identities_in_the_admin_stores_over_long_and_nul_names_instead_of_answering_500(
    client, admin_user, sim_credential
):
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:dashboard_credential_changelist"),
        {"action": "import_identities", "_selected_action": [sim_credential.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert [str(message) for message in response.context["messages"]] == [
        "'Simulated': identities imported (2 new, 0 updated, 0 no longer listed by WebAdMIT)."
    ]
    associations = UserIdentity.objects.values_list("association", flat=True)
    assert sorted(associations) == ["Decision Letters\r\nBcc: everyone@example.org", "NightlyBanner Export"]


def test_a_raw_status_with_a_nul_and_too_long_is_stored_once_and_not_seen_as_changed_again(sim_identities, sim):
    identity = sim_identities[0]
    refresh_identity(identity.pk)
    file_id = sim.file_ids(identity.webadmit_id)[0]
    sim.force(file_id, "Archived\x00 " + "by the registrar " * 20)

    refresh_identity(identity.pk)
    stored = ExportFile.objects.get(identity=identity, webadmit_id=file_id)
    assert "\x00" not in stored.raw_status and len(stored.raw_status) == _column_length(ExportFile, "raw_status")
    changes = StatusChange.objects.filter(export_file=stored).count()

    refresh_identity(identity.pk)
    assert StatusChange.objects.filter(export_file=stored).count() == changes, "the cut text compares equal"


@pytest.fixture
def refused_files_of(db):
    """Makes the database itself refuse new files of one identity (a trigger, on either backend): the storage
    error a refresh cannot foresee."""

    def refuse(identity: UserIdentity) -> None:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    "CREATE FUNCTION refuse_file() RETURNS trigger AS $$ BEGIN "
                    "RAISE EXCEPTION 'refused by the test'; END $$ LANGUAGE plpgsql"
                )
                cursor.execute(
                    "CREATE TRIGGER refuse_file BEFORE INSERT ON dashboard_exportfile FOR EACH ROW "
                    f"WHEN (NEW.identity_id = {int(identity.pk)}) EXECUTE FUNCTION refuse_file()"
                )
            else:
                cursor.execute(
                    "CREATE TRIGGER refuse_file BEFORE INSERT ON dashboard_exportfile "
                    f"WHEN NEW.identity_id = {int(identity.pk)} BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
                )

    return refuse


def test_a_storage_error_on_one_identity_shows_on_it_in_words_and_the_others_refresh(
    client, admin_user, sim_identities, refused_files_of
):
    refused, fine = sim_identities
    refused_files_of(refused)

    assert refresh_identity(refused.pk).outcome is Outcome.FAILED
    assert refresh_identity(fine.pk).outcome is Outcome.REFRESHED

    refused = reload(refused)
    assert refused.error_kind == ErrorKind.NOT_STORED
    assert "refused by the test" in refused.error_message
    assert refused.refreshing_until is None and refused.next_refresh_at > refused.last_attempt_at
    assert not ExportFile.objects.filter(identity=refused).exists(), "nothing half-written"
    assert ExportFile.objects.filter(identity=fine).exists()
    client.force_login(admin_user)
    page = client.get(reverse("identities")).content.decode()
    assert "Last refresh failed (Answer not stored)" in page and "refused by the test" in page
    assert "could not be stored" in page, "the banner says what happened"
