"""Signal receivers connecting allauth's flows to the second factor."""

from __future__ import annotations

from typing import Any

from allauth.account.signals import email_confirmed, password_reset
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver
from django.http import HttpRequest

from accounts import services
from accounts.models import User
from accounts.throttle import PASSWORDS

_JUST_CONFIRMED = "_accounts_email_just_confirmed"
_NEW_CREDENTIALS = "_accounts_new_credentials"


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
def note_new_credentials(sender: Any, instance: User, **kwargs: Any) -> None:
    # Every way of setting a password or an address (the account pages, a reset link, the
    # admin, the shell) ends in saving the user, so the check lives here rather than in each
    # flow. set_password() leaves the new raw password in _password until the save; a hash
    # that Django merely upgrades at login (more iterations) does not, and must not count.
    update_fields = kwargs.get("update_fields")
    if instance.pk is None:
        return
    changed = getattr(instance, "_password", None) is not None
    if not changed and (update_fields is None or "email" in update_fields):
        stored = User.objects.filter(pk=instance.pk).values_list("email", flat=True).first()
        changed = stored is not None and stored != instance.email
    setattr(instance, _NEW_CREDENTIALS, changed)


@receiver(post_save, sender=User)
def revoke_on_new_credentials(sender: Any, instance: User, created: bool, **kwargs: Any) -> None:
    # After the save, so that a save that fails revokes nothing.
    if not created and getattr(instance, _NEW_CREDENTIALS, False):
        setattr(instance, _NEW_CREDENTIALS, False)
        services.user_credentials_changed(user_id=instance.pk)


@receiver(password_reset)
def forget_failed_logins(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    # The reset link proved the mailbox: earlier wrong passwords no longer delay the owner.
    PASSWORDS.forget_account(request, user.email)
