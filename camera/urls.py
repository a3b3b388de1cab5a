from django.urls import path

from camera import views

app_name = "camera"

urlpatterns = [
    path("", views.live_page, name="live"),
]
