from django.apps import AppConfig


class CollectionConfig(AppConfig):
    name = "webadmit_dash.collection"
    label = "collection"
    verbose_name = "Collect and deliver"
