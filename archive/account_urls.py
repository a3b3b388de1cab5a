"""The account page that needs the archive: deleting the account with its saved analyses.
Mounted under /accounts/ beside the accounts app's own pages."""

from django.urls import path

from archive.views import account_delete_page

app_name = "account_data"

urlpatterns = [
    path("delete/", account_delete_page, name="delete"),
]
