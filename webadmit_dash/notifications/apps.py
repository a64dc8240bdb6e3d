from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "webadmit_dash.notifications"
    label = "notifications"
    verbose_name = "Notifications"
