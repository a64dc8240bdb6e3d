"""The tabs benchmark's data, built inside the checkout being measured: run as a script by benchmarks/tabs.py with
that checkout first on the path, in the production environment the web server gets.

    python -P benchmarks/_tab_data.py --files 2000 --identities 50 --status-mix available=70,failed=5,...

Migrates, collects static files, and loads, straight into the database, a credential, its identities (refreshed
a moment ago, next refresh well after the run, so no page says "late"), their exports and files in the given mix of
statuses, the dispatcher's heartbeat, and a superuser; prints one JSON line: the superuser's session cookie and what
was built.

It imports nothing from `benchmarks` (an older checkout's `benchmarks` package is not this one) and uses only what
every version of the product has had since the Recent Files page polled: the Credential, UserIdentity and ExportFile
models, found by name whichever app holds them, and the Export and EngineHeartbeat models where they exist; fields a
version lacks are left out.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

API_KEY = "0123456789abcdef0123456789abcdef"
EXPORT_NAMES = ["Nightly Banner Export", "Weekly Interview Roster", "Daily Decision Letters", "Prerequisite Audit"]
CASES = ["SOPHAS", "PharmCAS", "ArchCAS", "CASPA", "PTCAS", "UniCAS"]
BATCH = 5000


def _models() -> dict[str, Any]:
    """The product's models by class name (they moved between apps over time)."""
    from django.apps import apps

    return {model.__name__: model for model in apps.get_models()}


def _known(model: Any, **values: Any) -> Any:
    """An unsaved instance with the values this version's model has fields for."""
    fields = {field.attname for field in model._meta.concrete_fields} | {
        field.name for field in model._meta.concrete_fields
    }
    return model(**{name: value for name, value in values.items() if name in fields})


def build(files: int, identities: int, status_mix: list[tuple[str, int]], fresh_for: int, seed: int) -> dict[str, Any]:
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    models = _models()
    Credential, UserIdentity, ExportFile = models["Credential"], models["UserIdentity"], models["ExportFile"]
    Export, EngineHeartbeat = models.get("Export"), models.get("EngineHeartbeat")
    rng = random.Random(seed)
    now = timezone.now()

    credential = Credential(name="Benchmark", base_url="https://api.webadmit.org")
    credential.set_api_key(API_KEY)
    credential.save()
    UserIdentity.objects.bulk_create(
        _known(
            UserIdentity,
            credential=credential,
            webadmit_id=100_000 + n,
            type="Admissions User",
            association=CASES[n % len(CASES)],
            organization=f"Program {n:03d}",
            cycle=("2025 - 2026", "2026 - 2027")[n % 2],
            last_attempt_at=now - timedelta(seconds=5),
            last_success_at=now - timedelta(seconds=rng.randint(5, 200)),
            # Healthy and not due before the run ends: no banner, and no row turns "late" half way.
            next_refresh_at=now + timedelta(seconds=fresh_for),
            exports_synced_at=now,
            exports_checked_at=now,
        )
        for n in range(identities)
    )
    identity_ids = list(UserIdentity.objects.order_by("pk").values_list("pk", flat=True))
    exports: dict[tuple[int, int], int] = {}
    if Export is not None:
        Export.objects.bulk_create(
            _known(Export, identity_id=pk, webadmit_id=500_000 + i * 10 + k, name=name, format="Comma-Separated Values")
            for i, pk in enumerate(identity_ids)
            for k, name in enumerate(EXPORT_NAMES)
        )
        exports = {
            (export.identity_id, export.webadmit_id): export.pk
            for export in Export.objects.only("pk", "identity_id", "webadmit_id")
        }

    statuses = [status for status, weight in status_mix for _ in range(weight)]
    built: Counter[str] = Counter()
    latest_seq: dict[int, int] = {}
    batch = []
    for n in range(files):
        identity_id = identity_ids[n % identities]
        export_id = 500_000 + (n % identities) * 10 + rng.randrange(len(EXPORT_NAMES))
        status = rng.choice(statuses)
        seen = now - timedelta(seconds=rng.randint(0, 30 * 86400))
        batch.append(
            _known(
                ExportFile,
                identity_id=identity_id,
                webadmit_id=1_000_000 + n,
                export_webadmit_id=export_id,
                export_id=exports.get((identity_id, export_id)),
                href=f"/api/v1/exports/{export_id}/export_files/{1_000_000 + n}",
                status=status,
                raw_status=status.replace("_", " ").title(),
                first_seen_at=seen,
                status_changed_at=seen,
                change_seq=n + 1,
            )
        )
        built[status] += 1
        latest_seq[identity_id] = n + 1
        if len(batch) == BATCH:
            ExportFile.objects.bulk_create(batch)
            batch = []
    ExportFile.objects.bulk_create(batch)
    # The change sequence as the refreshes would have left it: each identity's is its latest file's, and the
    # counter (where there is one) has handed out every number so far. Polls compare against these.
    for identity_id, seq in latest_seq.items():
        UserIdentity.objects.filter(pk=identity_id).update(change_seq=seq)
    if "ChangeCounter" in models:
        models["ChangeCounter"].objects.update_or_create(pk=1, defaults={"value": files})
    if EngineHeartbeat is not None:
        # No worker runs here (one would change files under the polls): the beat is dated as a worker beating
        # every few seconds would keep it, until after the run, so no page says refreshes are late.
        EngineHeartbeat.objects.update_or_create(
            name="dispatcher", defaults={"beat_at": now + timedelta(seconds=fresh_for)}
        )
    if connection.vendor == "postgresql":
        # What autovacuum does within a minute of a bulk load; SQLite gets no statistics, as under Django.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    user = User.objects.create_superuser("bench", "", "bench-password-1")
    client = Client()
    client.force_login(user)
    import webadmit_dash

    return {
        "package": str(Path(webadmit_dash.__file__).parent),  # which checkout's code this was
        "session": client.cookies["sessionid"].value,
        "identities": len(identity_ids),
        "files": files,
        "statuses": dict(built),
        "exports": len(exports),
        "heartbeat": EngineHeartbeat is not None,
    }


def _status_mix(text: str) -> list[tuple[str, int]]:
    pairs = [part.split("=") for part in text.split(",") if part]
    return [(status, int(weight)) for status, weight in pairs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, required=True)
    parser.add_argument("--identities", type=int, required=True)
    parser.add_argument("--status-mix", type=_status_mix, required=True, help="status=weight,...")
    parser.add_argument("--fresh-for", type=int, default=3600, help="seconds the data stays fresh")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    print(json.dumps(build(args.files, args.identities, args.status_mix, args.fresh_for, args.seed)), flush=True)


if __name__ == "__main__":
    main()
