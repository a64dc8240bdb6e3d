from django.contrib.auth import views as auth_views
from django.urls import path

from webadmit_dash.dashboard import views

urlpatterns = [
    path("", views.recent_files, name="recent_files"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
]
