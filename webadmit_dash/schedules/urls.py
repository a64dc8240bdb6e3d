from django.urls import path

from webadmit_dash.schedules import views

app_name = "schedules"
urlpatterns = [
    path("schedules/", views.schedules_page, name="list"),
    path("exports/<int:pk>/", views.export_page, name="export"),
]
