from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "webadmit_dash.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from webadmit_dash.core import crypto
        from webadmit_dash.notifications.models import Webhook

        # A webhook's address and secret rotate with the API keys (manage.py rotate_encryption_keys).
        crypto.register(Webhook, "url_encrypted", "secret_encrypted")
