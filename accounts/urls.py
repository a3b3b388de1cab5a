from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("profile/", views.profile_page, name="profile"),
    path("avatar/", views.avatar_file, name="avatar"),
]
