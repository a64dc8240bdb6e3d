"""The product's URLs with OpenID Connect's, as webadmit_dash/urls.py mounts them when OIDC_RP_CLIENT_ID is set."""

from django.urls import include, path

from webadmit_dash.urls import urlpatterns as product_urls

urlpatterns = [path("oidc/", include("mozilla_django_oidc.urls")), *product_urls]
