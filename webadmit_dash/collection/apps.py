from django.apps import AppConfig


class CollectionConfig(AppConfig):
    name = "webadmit_dash.collection"
    label = "collection"
    verbose_name = "Collect and deliver"

    def ready(self) -> None:
        from webadmit_dash.collection.models import CollectedFile, Destination
        from webadmit_dash.core import crypto

        # Rotating ENCRYPTION_KEYS re-wraps each archived file's data key (never the file) and a destination's secret.
        crypto.register(CollectedFile, "wrapped_key")
        crypto.register(Destination, "secret_encrypted")
