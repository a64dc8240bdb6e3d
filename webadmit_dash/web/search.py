"""The Recent Files search over identities: `q` also finds the files of identities whose name, CAS or cycle
contains it (the export name and the file id are matched by the database, in listing.scope)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db.models import Q

from webadmit_dash.core.models import IdentityNames


def search_identities(identities: Iterable[IdentityNames], q: str) -> list[int]:
    """The identities whose name, CAS or cycle contains `q`, ignoring case (as the export-name search does): matched
    in memory, over the identities the page loads anyway, so the search costs no query of its own."""
    needle = q.casefold()
    return [
        identity.pk  # type: ignore[attr-defined]
        for identity in identities
        if any(
            needle in part.casefold()
            for part in (
                identity.display_name,
                identity.label,
                identity.association,
                identity.organization,
                identity.institution,
                identity.cycle,
            )
        )
    ]


def files_of_identities_matching(q: str, identities: Sequence[IdentityNames]) -> Q | None:
    """The files of the identities `q` matches, or None when it matches none."""
    pks = search_identities(identities, q)
    return Q(identity_id__in=pks) if pks else None
