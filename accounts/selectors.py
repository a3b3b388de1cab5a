"""Reading account data for pages and the admin."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import ApiToken, User

if TYPE_CHECKING:
    from django.http import HttpRequest
    from rest_framework.request import Request


def owner_of(request: Request | HttpRequest) -> User:
    """The signed-in user a request acts for, whose data it reads (views and API views that
    require a login)."""
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - login or authentication required
    return user


def api_tokens_of(user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("-created")


def has_authenticator_app(user: User) -> bool:
    return bool(TOTPDevice.objects.filter(user=user, confirmed=True).exists())


def backup_codes_left(user: User) -> int:
    device = StaticDevice.objects.filter(user=user, confirmed=True).first()
    return device.token_set.count() if device else 0
