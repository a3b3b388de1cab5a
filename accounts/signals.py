"""Signal receivers connecting allauth's flows to the second factor."""

from __future__ import annotations

from typing import Any

from allauth.account.signals import email_confirmed
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import pre_save
from django.dispatch import receiver
from django.http import HttpRequest

from accounts import services
from accounts.models import User

_JUST_CONFIRMED = "_accounts_email_just_confirmed"


@receiver(email_confirmed)
def remember_confirmation(
    sender: Any, request: HttpRequest, email_address: Any, **kwargs: Any
) -> None:
    setattr(request, _JUST_CONFIRMED, email_address.user_id)


@receiver(user_logged_in)
def verify_session_confirmed_by_email_code(
    sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any
) -> None:
    # allauth logs the user in right after the code that confirmed their address: that code
    # already proved access to the mailbox, so a second emailed code would add nothing.
    if request is not None and getattr(request, _JUST_CONFIRMED, None) == user.pk:
        services.otp_session_verify_after_email_confirmation(request=request, user=user)


@receiver(pre_save, sender=User)
def revoke_on_new_credentials(sender: Any, instance: User, **kwargs: Any) -> None:
    # Every way of changing a password or an address (the account pages, a reset link, the
    # admin, the shell) ends in saving the user, so the check lives here rather than in each
    # flow. A save that names its fields (a login's last_login) cannot have changed them.
    update_fields = kwargs.get("update_fields")
    if instance.pk is None or (
        update_fields is not None and not {"password", "email"} & set(update_fields)
    ):
        return
    stored = User.objects.filter(pk=instance.pk).values("password", "email").first()
    if stored is None:
        return
    if stored["password"] != instance.password or stored["email"] != instance.email:
        services.user_credentials_changed(user_id=instance.pk)
