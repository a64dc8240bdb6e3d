"""Real WebAdMIT names, as long as offices make them: an identity's organisation and an export's name."""

from __future__ import annotations

from webadmit_dash.core.models import Export, UserIdentity

LONG_ORGANIZATION = "Université de Montréal School of Nursing and Health Sciences \u2013 Graduate Admissions"
LONG_EXPORT = "Interview Roster \u2013 Café Session with Faculty, Alumni and Current Students (Spring Term)"


def give_long_names() -> None:
    """Every identity becomes a NursingCAS one of LONG_ORGANIZATION, every export a LONG_EXPORT (numbered)."""
    UserIdentity.objects.update(association="NursingCAS", organization=LONG_ORGANIZATION, label="")
    for export in Export.objects.all():
        export.name = f"{LONG_EXPORT} {export.pk}"
        export.save(update_fields=["name"])
