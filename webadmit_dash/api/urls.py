from django.urls import path

from webadmit_dash.api import views
from webadmit_dash.api.v1 import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("api/tokens/", views.token_list, name="api_tokens"),
    path("api/tokens/<int:pk>/revoke/", views.revoke_token, name="revoke_api_token"),
]
