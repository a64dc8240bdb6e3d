from django.urls import path

from webadmit_dash.schedules import callbacks

# No namespace: the engine names the callback's address as "webadmit_callback" (engine.on_demand.callback_url).
urlpatterns = [
    path("webadmit/callback/<str:token>/", callbacks.webadmit_callback, name="webadmit_callback"),
]
