from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("2fa/", views.otp_verify, name="otp_verify"),
    path("2fa/app/", views.totp_setup, name="totp_setup"),
    path("2fa/app/remove/", views.totp_remove, name="totp_remove"),
    path("2fa/backup-codes/", views.backup_codes_new, name="backup_codes"),
    path("profile/", views.profile_page, name="profile"),
    path("profile/identity/", views.identity_set, name="identity_set"),
    path("avatar/", views.avatar_file, name="avatar"),
    path("avatar/upload/", views.avatar_upload, name="avatar_upload"),
    path("avatar/remove/", views.avatar_remove, name="avatar_remove"),
    path("tokens/", views.api_tokens, name="api_tokens"),
    path("tokens/<int:token_id>/revoke/", views.api_token_revoke, name="api_token_revoke"),
]
