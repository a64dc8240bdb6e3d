"""A PDF Manager batch made ready on the simulator and stored by refreshes as the engine stores it, its zips read."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from tests.support.simulated import SimulatorControl
from webadmit_dash.core.models import ExportFile, Kind, UserIdentity
from webadmit_dash.engine.refresh import refresh_identity


def ready_batch(sim: SimulatorControl, identity: UserIdentity, template_name: str) -> ExportFile:
    """A new batch of the simulator's template `template_name` that ended well, refreshed until its zips are read."""
    UserIdentity.objects.filter(pk=identity.pk).update(watch_pdf_batches=True)
    templates = sim.world.pdf_manager.templates(identity.webadmit_id)
    template = next(each for each in templates if each.name == template_name)
    batch_id = sim.start_batch(identity.webadmit_id, template.id, outcome="available")
    sim.force_batch(batch_id, "available")
    now = timezone.now()
    for step in range(10):
        refresh_identity(identity.pk, now=now + timedelta(seconds=15 * step))
        row = ExportFile.objects.get(identity=identity, kind=Kind.PDF_BATCH, webadmit_id=batch_id)
        if row.zips.exists():
            return row
    raise AssertionError("the batch's zips were not read")
