from django.urls import path

from webadmit_dash.schedules import callbacks, views

app_name = "schedules"
urlpatterns = [
    path("schedules/", views.schedules_page, name="list"),
    path("exports/<int:pk>/", views.export_page, name="export"),
    # WebAdMIT's callback: the one address meant to be reached from outside (see schedules/callbacks.py).
    path("webadmit/callback/<str:token>/", callbacks.webadmit_callback, name="webadmit_callback"),
]
