from django.contrib.auth import views as auth_views
from django.urls import path

from webadmit_dash.web import views

urlpatterns = [
    path("", views.recent_files, name="recent_files"),
    path("files/poll/", views.poll_files, name="poll_files"),
    path("files/<int:pk>/", views.file_detail, name="file_detail"),
    path("files/<int:pk>/download/", views.download_file, name="download_file"),
    path("files/<int:pk>/zips/<int:part>/", views.download_zip, name="download_zip"),
    path("files/<int:pk>/acknowledge/", views.acknowledge_file, name="acknowledge_file"),
    path("files/<int:pk>/run-again/", views.run_again, name="run_again"),
    path("files/<int:pk>/deliver-again/", views.deliver_again, name="deliver_again"),
    path("files/bulk/acknowledge/", views.bulk_acknowledge, name="bulk_acknowledge"),
    path("files/bulk/run-again/", views.bulk_run_again, name="bulk_run_again"),
    path("files/bulk/download/", views.bulk_download, name="bulk_download"),
    path("identities/", views.identity_list, name="identities"),
    path("identities/<int:pk>/refresh/", views.refresh_now, name="refresh_now"),
    path("preferences/", views.preferences, name="preferences"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
]
