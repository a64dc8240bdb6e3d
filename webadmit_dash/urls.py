from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    # The admin's own password change checks the old password outside the sign-in lockout: the site's form does not.
    path("admin/password_change/", RedirectView.as_view(pattern_name="password_change")),
    path("admin/", admin.site.urls),
    path("", include("webadmit_dash.api.urls")),
    path("notifications/", include("webadmit_dash.notifications.urls")),
    # The per-export and Schedules pages, and WebAdMIT's callback: the one address meant to be reached from outside
    # (schedules/callbacks.py).
    path("", include("webadmit_dash.schedules.urls")),
    path("", include("webadmit_dash.web.urls")),
]
if settings.OIDC_ENABLED:
    urlpatterns.insert(0, path("oidc/", include("mozilla_django_oidc.urls")))
