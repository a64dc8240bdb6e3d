from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "webadmit_dash.api"
    label = "api"
    verbose_name = "API"
