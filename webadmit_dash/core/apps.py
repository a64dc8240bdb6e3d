from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "webadmit_dash.core"
    # The label this app had when it was the whole dashboard: tables (dashboard_*), migrations, content types and
    # permissions ("dashboard.change_credential") keep their names, so existing databases carry on unchanged.
    label = "dashboard"
    verbose_name = "WebAdMIT dashboard"

    def ready(self) -> None:
        from webadmit_dash.core import (
            crypto,
            private_files,  # noqa: F401 - connects its signal receiver
        )
        from webadmit_dash.core.models import Credential

        crypto.register(Credential, "api_key_encrypted")
