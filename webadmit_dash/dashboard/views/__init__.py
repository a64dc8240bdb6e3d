"""What staff see: the Recent Files page and its live poll, downloads, Refresh now / Run again, and preferences.

Every view starts from `access.visible_identities(user)`; a file or identity outside it is a 404, whether it
does not exist or belongs to someone else, so ids cannot be probed.

The views are split by job: `common` (what every view shares), `pagination`, `listing` (what the Recent Files
page is about), `freshness` (the freshness strip and problem banners), and one module per page or action
(`recent`, `identities`, `actions`, `download`, `preferences`). Only the views urls.py routes to are exported here.
"""

from webadmit_dash.dashboard.views.actions import refresh_identity, run_again
from webadmit_dash.dashboard.views.download import download_file
from webadmit_dash.dashboard.views.identities import identity_list
from webadmit_dash.dashboard.views.preferences import preferences
from webadmit_dash.dashboard.views.recent import poll_files, recent_files

__all__ = [
    "download_file",
    "identity_list",
    "poll_files",
    "preferences",
    "recent_files",
    "refresh_identity",
    "run_again",
]
