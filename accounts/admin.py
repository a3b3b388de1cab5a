"""Admin for users, with their second-factor devices, verification state and API tokens."""

from __future__ import annotations

from allauth.account.models import EmailAddress
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest
from django_otp.plugins.otp_email.models import EmailDevice
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import ApiToken, User
from accounts.services import user_delete


class EmailDeviceInline(admin.TabularInline):  # type: ignore[type-arg]
    model = EmailDevice
    extra = 0
    fields = ("name", "confirmed", "email", "throttling_failure_count", "last_used_at")
    readonly_fields = ("throttling_failure_count", "last_used_at")


class TOTPDeviceInline(admin.TabularInline):  # type: ignore[type-arg]
    model = TOTPDevice
    extra = 0
    fields = ("name", "confirmed", "throttling_failure_count", "last_used_at")
    readonly_fields = ("throttling_failure_count", "last_used_at")


class StaticDeviceInline(admin.TabularInline):  # type: ignore[type-arg]
    model = StaticDevice
    extra = 0
    fields = ("name", "confirmed")


class ApiTokenInline(admin.TabularInline):  # type: ignore[type-arg]
    model = ApiToken
    extra = 0
    fields = ("name", "prefix", "created", "last_used")
    readonly_fields = ("name", "prefix", "created", "last_used")
    can_delete = True

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # A token's key is shown once to its owner; the admin can only revoke.
        return False


@admin.register(User)
class UserAdmin(BaseUserAdmin):  # type: ignore[type-arg]
    ordering = ("email",)
    list_display = (
        "email",
        "username",
        "email_verified",
        "authenticator_app",
        "is_active",
        "is_staff",
        "date_joined",
    )
    list_filter = ("is_active", "is_staff", "is_superuser", "identity_enabled", "date_joined")
    search_fields = ("email", "username")
    inlines = (EmailDeviceInline, TOTPDeviceInline, StaticDeviceInline, ApiTokenInline)
    readonly_fields = ("identity_enabled",)
    fieldsets = (
        (None, {"fields": ("email", "username", "password", "avatar")}),
        ("Personal info", {"fields": ("first_name", "last_name")}),
        # The user's own consent: shown, never changed by staff.
        ("Identity features", {"fields": ("identity_enabled",)}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "username", "password1", "password2")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        verified = EmailAddress.objects.filter(user=OuterRef("pk"), verified=True)
        apps = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
        users: QuerySet[User] = super().get_queryset(request)
        return users.annotate(_email_verified=Exists(verified), _app=Exists(apps))

    def delete_model(self, request: HttpRequest, obj: User) -> None:
        # Through the service, so that the avatar leaves storage with the row (the archive's
        # admin extends this to the user's saved pictures).
        user_delete(user=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset:
            user_delete(user=user)

    @admin.display(boolean=True, description="email verified", ordering="_email_verified")
    def email_verified(self, obj: User) -> bool:
        return bool(getattr(obj, "_email_verified", False))

    @admin.display(boolean=True, description="authenticator app", ordering="_app")
    def authenticator_app(self, obj: User) -> bool:
        return bool(getattr(obj, "_app", False))


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "user", "prefix", "created", "last_used")
    search_fields = ("name", "user__email", "prefix")
    list_filter = ("created",)
    readonly_fields = ("user", "name", "prefix", "key_hash", "created", "last_used")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


# The second-factor devices are edited on their user's page (the inlines above); their own
# admin pages, under raw labels such as OTP_EMAIL, only duplicated that.
for device_model in (EmailDevice, TOTPDevice, StaticDevice):
    if admin.site.is_registered(device_model):
        admin.site.unregister(device_model)
