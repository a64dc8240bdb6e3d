"""Which file a number in an address names: our id, or the WebAdMIT file id people read on the rows (207434).

People copy the number they see, and that is WebAdMIT's; our addresses use ours. Both are accepted, and when one
number could be either (our id of one file and WebAdMIT's of another, or the same WebAdMIT id under two identities)
nothing is guessed: the candidates are given back for the person (or the script) to choose. Only files the user may
see are ever looked at, so an invisible file stays a plain 404 and no answer hints that it exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.http import Http404

from webadmit_dash.core import access
from webadmit_dash.core.models import ExportFile
from webadmit_dash.web.common import MAX_PK

# The most candidates ever listed: one WebAdMIT id under more identities than this is not a real case.
MAX_CANDIDATES = 20


@dataclass(frozen=True)
class Found:
    """What a number names: one file (`file`; `by_webadmit_id` when only WebAdMIT's id matched), or candidates."""

    file: ExportFile | None
    by_webadmit_id: bool = False
    candidates: tuple[ExportFile, ...] = ()


def find_file(user: User, number: int) -> Found:
    """The visible file `number` names, or the candidates when it names several; Http404 when it names none."""
    if not 0 < number <= MAX_PK:
        raise Http404("No such file.")
    visible = ExportFile.objects.filter(identity__in=access.visible_identities(user)).select_related(
        "identity__credential", "export"
    )
    ours = visible.filter(pk=number).first()
    # Our file carrying its own id as WebAdMIT's too is one file, not two.
    theirs = list(visible.filter(webadmit_id=number).exclude(pk=number).order_by("pk")[:MAX_CANDIDATES])
    if ours is not None and not theirs:
        return Found(ours)
    if ours is None and len(theirs) == 1:
        return Found(theirs[0], by_webadmit_id=True)
    if ours is None and not theirs:
        raise Http404("No such file.")
    return Found(None, candidates=tuple([ours] if ours else []) + tuple(theirs))
