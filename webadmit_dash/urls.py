from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("notifications/", include("webadmit_dash.notifications.urls")),
    path("", include("webadmit_dash.web.urls")),
]
