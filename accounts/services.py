"""Account operations: profile, avatar, API tokens, the emailed second factor, deletion."""

from __future__ import annotations

import hashlib
import logging
import secrets
import smtplib
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django_otp import login as otp_login
from django_otp.plugins.otp_email.models import EmailDevice
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.avatars import AvatarError, avatar_png
from accounts.models import ApiToken, User

logger = logging.getLogger(__name__)

BACKUP_CODE_COUNT = 10


def user_avatar_set(*, user: User, data: bytes) -> None:
    """Store ``data`` (a JPEG, PNG, WebP or BMP picture) as the user's square avatar.

    Raises accounts.avatars.AvatarError for bytes that are not a usable picture.
    """
    png = avatar_png(
        data,
        max_bytes=settings.UPLOAD_MAX_BYTES,
        max_pixels=settings.IMAGE_MAX_PIXELS,
        decode_pixels=settings.IMAGE_DECODE_MAX_PIXELS,
    )
    old = user.avatar.name if user.avatar else None
    user.avatar.save("avatar.png", ContentFile(png), save=True)
    if old and old != user.avatar.name:
        user.avatar.storage.delete(old)


def user_avatar_upload(*, user: User, upload: UploadedFile[bytes]) -> None:
    """Store an uploaded picture as the avatar, refusing a file over the upload limit before
    reading it. Raises accounts.avatars.AvatarError."""
    limit = settings.UPLOAD_MAX_BYTES
    if upload.size is not None and upload.size > limit:
        raise AvatarError(f"The file is over the limit of {limit / 1_048_576:.0f} MB.")
    upload.seek(0)
    user_avatar_set(user=user, data=upload.read(limit + 1))


def username_check(*, user: User, username: str) -> str:
    """``username`` cleaned, or ValidationError when it is not allowed or taken."""
    username = username.strip()
    UnicodeUsernameValidator()(username)
    if not username:
        raise ValidationError("A username cannot be empty.")
    if User.objects.filter(username__iexact=username).exclude(pk=user.pk).exists():
        raise ValidationError("This username is taken.")
    return username


def user_username_set(*, user: User, username: str) -> None:
    """Raises ValidationError for a username that is not allowed or taken (even by a request
    that took it a moment ago)."""
    user.username = username_check(user=user, username=username)
    try:
        with transaction.atomic():
            user.save(update_fields=["username"])
    except IntegrityError as exc:
        user.refresh_from_db(fields=["username"])
        raise ValidationError("This username is taken.") from exc


def user_identity_set(*, user: User, enabled: bool) -> None:
    """Turn identity features (face signatures, verification, recognition) on or off."""
    user.identity_enabled = enabled
    user.save(update_fields=["identity_enabled"])


def user_avatar_remove(*, user: User) -> None:
    if user.avatar:
        user.avatar.delete(save=True)


def user_delete(*, user: User) -> None:
    """Delete the account with what this app keeps of it: the avatar, devices and tokens.
    Apps above this one delete their own data first (archive.services.account_delete)."""
    avatar = user.avatar.name if user.avatar else None
    storage = user.avatar.storage
    with transaction.atomic():
        user.delete()
        if avatar:
            transaction.on_commit(lambda: storage.delete(avatar))


@dataclass(frozen=True)
class NewApiToken:
    token: ApiToken
    key: str


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_create(*, user: User, name: str) -> NewApiToken:
    """Create a named API token; the returned key is never stored and cannot be shown again."""
    key = secrets.token_hex(20)
    token = ApiToken.objects.create(
        user=user, name=name.strip() or "API token", prefix=key[:8], key_hash=hash_api_key(key)
    )
    return NewApiToken(token=token, key=key)


def api_token_revoke(*, user: User, token_id: int) -> bool:
    """Delete one of ``user``'s tokens; False if no such token is theirs."""
    deleted, _ = ApiToken.objects.filter(user=user, pk=token_id).delete()
    return deleted > 0


def user_group(user_id: int) -> str:
    """The channel-layer group of every websocket that ``user_id`` has open."""
    return f"user.{user_id}"


def user_sockets_close(*, user_id: int) -> None:
    """Close every open websocket of the user (code 4401), in every server process."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(user_group(user_id), {"type": "credentials.revoked"})


def user_credentials_changed(*, user_id: int) -> int:
    """After a new password or e-mail address: revoke every API token, which was handed out
    under the old credentials, and close the user's open websockets once the change is stored.

    Returns how many tokens were revoked.
    """
    revoked, _ = ApiToken.objects.filter(user_id=user_id).delete()
    # robust: the change is stored; a channel layer that is down must not turn it into an
    # error page (the sockets then close at their next check, within seconds).
    transaction.on_commit(lambda: user_sockets_close(user_id=user_id), robust=True)
    return revoked


def api_token_touch(*, token: ApiToken) -> None:
    # Written at most once a minute per token, so API calls do not each cost a write.
    now = timezone.now()
    if token.last_used is None or (now - token.last_used).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used=now)


def email_device_for(user: User) -> EmailDevice:
    """The user's email second factor; every account has one, sent to its current address."""
    device, _ = EmailDevice.objects.get_or_create(
        user=user, name="Email", defaults={"confirmed": True}
    )
    return device


def otp_code_send(*, user: User) -> tuple[bool, str]:
    """Email a fresh sign-in code, unless one was sent too recently.

    Returns whether a code was sent, and a message for the person.
    """
    device = email_device_for(user)
    allowed, details = device.generate_is_allowed()
    if not allowed:
        wait = details.get("next_generation_at") if details else None
        seconds = max(1, int((wait - timezone.now()).total_seconds())) if wait else 60
        return False, (
            f"We sent a code to {user.email} a moment ago; use that one (it is valid for 10 "
            f"minutes), or ask for a new one in {seconds} s."
        )
    try:
        device.generate_challenge()
    except (smtplib.SMTPException, OSError):
        logger.exception("Sending the sign-in code to %s failed", user.email)
        # The code was not delivered: let the person ask again at once.
        device.cooldown_reset()
        return False, "The email with your code could not be sent. Try again in a moment."
    return True, f"We sent a 6-digit code to {user.email}. It is valid for 10 minutes."


def otp_devices_for(user: User) -> list[EmailDevice | TOTPDevice | StaticDevice]:
    """The confirmed devices that can verify a code, the authenticator app first."""
    devices: list[EmailDevice | TOTPDevice | StaticDevice] = []
    devices.extend(TOTPDevice.objects.filter(user=user, confirmed=True))
    devices.extend(StaticDevice.objects.filter(user=user, confirmed=True))
    devices.append(email_device_for(user))
    return devices


def otp_code_verify(*, request: HttpRequest, user: User, code: str) -> bool:
    """Check a code from the email, the authenticator app or a backup code, and if it is
    right mark this session as having passed the second factor.

    Wrong codes are throttled by the caller (accounts.throttle.CODES), not per device.
    """
    code = "".join(code.split())
    for device in otp_devices_for(user):
        if device.verify_token(code):
            otp_login(request, device)
            return True
    return False


def otp_session_verify_after_email_confirmation(*, request: HttpRequest, user: User) -> None:
    """The code that confirmed the email address proves the same thing as the emailed sign-in
    code (access to the mailbox), so the session that just confirmed counts as verified."""
    otp_login(request, email_device_for(user))


def totp_device_start(*, user: User) -> TOTPDevice:
    """An unconfirmed authenticator-app device; it counts once a first code confirms it."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


def totp_device_confirm(*, user: User, code: str) -> list[str] | None:
    """Confirm the pending device with a code from the app; returns fresh backup codes."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None or not device.verify_token("".join(code.split())):
        return None
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=True).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        return backup_codes_regenerate(user=user)


def totp_device_remove(*, user: User) -> None:
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()


def backup_codes_regenerate(*, user: User) -> list[str]:
    """Replace the user's single-use backup codes; returns them to show once."""
    device, _ = StaticDevice.objects.get_or_create(
        user=user, name="Backup codes", defaults={"confirmed": True}
    )
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes
