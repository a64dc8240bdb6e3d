from django.urls import path

from webadmit_dash.notifications import views

app_name = "notifications"
urlpatterns = [
    path("", views.page, name="page"),
    path("<int:pk>/", views.edit, name="edit"),
    path("<int:pk>/delete/", views.delete, name="delete"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
