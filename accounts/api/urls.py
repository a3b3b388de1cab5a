"""REST API of the accounts app, mounted under /api/v1/."""

from django.urls import path

from accounts.api.views import MeApi

urlpatterns = [
    path("me", MeApi.as_view(), name="me"),
]
