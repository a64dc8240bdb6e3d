from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("webadmit_dash.api.urls")),
    path("notifications/", include("webadmit_dash.notifications.urls")),
    path("", include("webadmit_dash.web.urls")),
]
if settings.OIDC_ENABLED:
    urlpatterns.insert(0, path("oidc/", include("mozilla_django_oidc.urls")))
