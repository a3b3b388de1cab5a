"""Account pages: the second-factor code, profile and avatar, authenticator app, API tokens,
and deleting the account."""

from __future__ import annotations

import base64
from urllib.parse import quote

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts import selectors, services
from accounts.avatars import AvatarError
from accounts.files import private_file_response
from accounts.forms import AvatarForm, CodeForm, PasswordConfirmForm, TokenCreateForm, UsernameForm
from accounts.qr import qr_svg
from accounts.throttle import CODES, wait_message

_SENT_KEY = "accounts_otp_code_sent"


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or "/"
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return "/"


@login_required
def otp_verify(request: HttpRequest) -> HttpResponse:
    """The second step of every login: a code from the email (or the app, or a backup code)."""
    user = selectors.owner_of(request)
    if user.is_verified():  # type: ignore[attr-defined]
        return redirect(_safe_next(request))
    has_app = selectors.has_authenticator_app(user)
    form = CodeForm()
    if request.method == "POST" and request.POST.get("action") == "resend":
        sent, message = services.otp_code_send(user=user)
        messages.success(request, message) if sent else messages.warning(request, message)
        request.session[_SENT_KEY] = True
        return redirect(f"{request.path}?next={quote(_safe_next(request))}")
    if request.method == "POST":
        form = CodeForm(request.POST)
        if form.is_valid():
            with CODES.attempt(request, user.pk) as wait:
                if wait:
                    form.add_error("code", wait_message(wait))
                    verified = False
                else:
                    code = form.cleaned_data["code"]
                    verified = services.otp_code_verify(request=request, user=user, code=code)
                    if verified:
                        CODES.succeeded(request, user.pk)
                    else:
                        CODES.failed(request, user.pk)
                        form.add_error("code", "This code is wrong or has expired.")
            if verified:
                request.session.pop(_SENT_KEY, None)
                messages.success(request, f"Signed in as {user.username}.")
                return redirect(_safe_next(request))
    elif not has_app and not request.session.get(_SENT_KEY):
        # The first visit sends the code by itself; later visits wait for "send again".
        # A code sent moments ago (a second sign-in, another tab) is still good: say so plainly.
        _, message = services.otp_code_send(user=user)
        request.session[_SENT_KEY] = True
        messages.info(request, message)
    return render(
        request,
        "accounts/otp_verify.html",
        {"form": form, "has_app": has_app, "next": _safe_next(request)},
    )


@login_required
def profile_page(request: HttpRequest) -> HttpResponse:
    user = selectors.owner_of(request)
    username_form = UsernameForm(instance=user)
    if request.method == "POST":
        username_form = UsernameForm(request.POST, instance=user)
        if username_form.is_valid():
            username_form.save()
            messages.success(request, "Your username was changed.")
            return redirect("accounts:profile")
    return render(
        request,
        "accounts/profile.html",
        {
            "username_form": username_form,
            "avatar_form": AvatarForm(),
            "has_app": selectors.has_authenticator_app(user),
            "backup_codes_left": selectors.backup_codes_left(user),
        },
    )


@login_required
@require_POST
def identity_set(request: HttpRequest) -> HttpResponse:
    enabled = request.POST.get("enabled") == "on"
    services.user_identity_set(user=selectors.owner_of(request), enabled=enabled)
    messages.success(
        request, "Identity features are on." if enabled else "Identity features are off."
    )
    return redirect("accounts:profile")


@login_required
@require_POST
def avatar_upload(request: HttpRequest) -> HttpResponse:
    form = AvatarForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose a picture to upload.")
        return redirect("accounts:profile")
    try:
        services.user_avatar_upload(
            user=selectors.owner_of(request), upload=form.cleaned_data["avatar"]
        )
    except AvatarError as exc:
        messages.error(request, f"That picture cannot be used: {exc}")
    else:
        messages.success(request, "Your picture was updated.")
    return redirect("accounts:profile")


@login_required
@require_POST
def avatar_remove(request: HttpRequest) -> HttpResponse:
    services.user_avatar_remove(user=selectors.owner_of(request))
    messages.success(request, "Your picture was removed.")
    return redirect("accounts:profile")


@login_required
def avatar_file(request: HttpRequest) -> FileResponse:
    """The signed-in user's avatar, served by the app: media files have no public URL."""
    return private_file_response(
        selectors.owner_of(request).avatar, content_type="image/png", max_age=3600
    )


@login_required
def totp_setup(request: HttpRequest) -> HttpResponse:
    """Add an authenticator app: scan the QR code, confirm with a first code."""
    user = selectors.owner_of(request)
    if request.method == "POST" and request.POST.get("action") == "start":
        # Changing the second factor needs the password, like removing it: a borrowed
        # session must not be able to add its own authenticator.
        if not PasswordConfirmForm(request.POST, user=user).is_valid():
            messages.error(request, "The app was not set up: your password was wrong.")
            return redirect("accounts:profile")
        services.totp_device_start(user=user)
        return redirect("accounts:totp_setup")
    device = user.totpdevice_set.filter(confirmed=False).first()  # type: ignore[attr-defined]
    if device is None:
        return redirect("accounts:profile")
    form = CodeForm()
    if request.method == "POST":
        form = CodeForm(request.POST)
        if form.is_valid():
            codes = services.totp_device_confirm(user=user, code=form.cleaned_data["code"])
            if codes is not None:
                messages.success(request, "Your authenticator app is set up.")
                return render(request, "accounts/backup_codes.html", {"codes": codes})
            form.add_error("code", "This code does not match. Check the app's clock and retry.")
    return render(
        request,
        "accounts/totp_setup.html",
        {
            "form": form,
            "qr": qr_svg(device.config_url),
            # Authenticator apps take a typed-in key in base32, the form the QR code carries.
            "secret": base64.b32encode(device.bin_key).decode().rstrip("="),
        },
    )


@login_required
@require_POST
def totp_remove(request: HttpRequest) -> HttpResponse:
    form = PasswordConfirmForm(request.POST, user=selectors.owner_of(request))
    if form.is_valid():
        services.totp_device_remove(user=selectors.owner_of(request))
        messages.success(request, "The authenticator app was removed; codes come by email.")
    else:
        messages.error(request, "The app was not removed: your password was wrong.")
    return redirect("accounts:profile")


@login_required
@require_POST
def backup_codes_new(request: HttpRequest) -> HttpResponse:
    if not selectors.has_authenticator_app(selectors.owner_of(request)):
        return redirect("accounts:profile")
    if not PasswordConfirmForm(request.POST, user=selectors.owner_of(request)).is_valid():
        messages.error(request, "No new codes: your password was wrong.")
        return redirect("accounts:profile")
    codes = services.backup_codes_regenerate(user=selectors.owner_of(request))
    return render(request, "accounts/backup_codes.html", {"codes": codes})


@login_required
def api_tokens(request: HttpRequest) -> HttpResponse:
    user = selectors.owner_of(request)
    form = TokenCreateForm(user=user)
    new_key = None
    if request.method == "POST":
        form = TokenCreateForm(request.POST, user=user)
        if form.is_valid():
            new_key = services.api_token_create(user=user, name=form.cleaned_data["name"]).key
            form = TokenCreateForm(user=user)
    return render(
        request,
        "accounts/api_tokens.html",
        {"form": form, "tokens": selectors.api_tokens_of(user), "new_key": new_key},
    )


@login_required
@require_POST
def api_token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    if not services.api_token_revoke(user=selectors.owner_of(request), token_id=token_id):
        raise Http404("No such token")
    messages.success(request, "The token was revoked: it no longer works.")
    return redirect("accounts:api_tokens")
