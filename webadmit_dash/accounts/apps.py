from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "webadmit_dash.accounts"
    label = "accounts"
    verbose_name = "Sign-in"
