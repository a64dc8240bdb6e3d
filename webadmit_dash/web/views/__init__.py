"""The pages staff use and the fragments htmx swaps into them: Recent Files and its live poll, Identities, a file's
page with Download, Acknowledge and Deliver again, Refresh now and Run again, and Preferences. One module per page
(or pair of buttons); what several views share lives beside this package (`common`, `listing`, `pagination`,
`freshness`, `filters`, `trail`).

Every view starts from `core.access.visible_identities(user)`; a file or identity outside it is a 404, whether it
does not exist or belongs to someone else, so ids cannot be probed.
"""

from webadmit_dash.web.views.actions import refresh_now, run_again
from webadmit_dash.web.views.bulk import bulk_acknowledge, bulk_download, bulk_run_again
from webadmit_dash.web.views.files import acknowledge_file, deliver_again, download_file, download_zip, file_detail
from webadmit_dash.web.views.identities import identity_list
from webadmit_dash.web.views.preferences import PasswordChangeView, preferences
from webadmit_dash.web.views.recent import poll_files, recent_files

__all__ = [
    "PasswordChangeView",
    "acknowledge_file",
    "bulk_acknowledge",
    "bulk_download",
    "bulk_run_again",
    "deliver_again",
    "download_file",
    "download_zip",
    "file_detail",
    "identity_list",
    "poll_files",
    "preferences",
    "recent_files",
    "refresh_now",
    "run_again",
]
