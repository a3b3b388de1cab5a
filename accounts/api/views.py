"""GET/PATCH /api/v1/me: the profile, so that an API client needs no page."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.api.serializers import ErrorOutput, _Output
from accounts.avatars import AvatarError
from accounts.models import User


class SecondFactorOutput(_Output):
    email_code = serializers.BooleanField(help_text="always on: a code by email at sign-in")
    authenticator_app = serializers.BooleanField()
    backup_codes_left = serializers.IntegerField()


class MeOutput(_Output):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    username = serializers.CharField()
    avatar = serializers.CharField(allow_null=True, help_text="URL of the avatar, if any")
    date_joined = serializers.DateTimeField()
    second_factor = SecondFactorOutput()
    identity_enabled = serializers.BooleanField(
        help_text="whether identity features (verify, recognise people) are on"
    )


def _me(request: Request, user: User) -> dict[str, Any]:
    avatar = request.build_absolute_uri(reverse("accounts:avatar")) if user.avatar else None
    return dict(
        MeOutput(
            {
                "id": user.pk,
                "email": user.email,
                "username": user.username,
                "avatar": avatar,
                "date_joined": user.date_joined,
                "identity_enabled": user.identity_enabled,
                "second_factor": {
                    "email_code": True,
                    "authenticator_app": selectors.has_authenticator_app(user),
                    "backup_codes_left": selectors.backup_codes_left(user),
                },
            }
        ).data
    )


class MeApi(APIView):
    """The signed-in user's profile: read it, change the username, set or remove the avatar,
    turn identity features on or off.

    The e-mail address and the password change on the account pages, which ask for the
    mailbox's confirmation and the current password.
    """

    parser_classes = (JSONParser, MultiPartParser, FormParser)

    @extend_schema_serializer(component_name="MeUpdate")
    class InputSerializer(serializers.Serializer):  # type: ignore[type-arg]
        username = serializers.CharField(max_length=150, required=False)
        avatar = serializers.FileField(
            required=False, allow_empty_file=True, help_text="JPEG, PNG, WebP or BMP"
        )
        remove_avatar = serializers.BooleanField(required=False, default=False)
        # A missing field is None, not False: DRF reads an absent boolean of a form as False,
        # and a PATCH of the avatar alone must not withdraw the user's consent.
        identity_enabled = serializers.BooleanField(
            required=False,
            allow_null=True,
            default=None,
            help_text="turn identity features (verify, recognise people) on or off",
        )

        def validate_username(self, value: str) -> str:
            user = self.context["user"]
            return services.username_check(user=user, username=value)

    @extend_schema(responses={200: MeOutput, 401: ErrorOutput})
    def get(self, request: Request) -> Response:
        return Response(_me(request, selectors.owner_of(request)))

    @extend_schema(
        request={"multipart/form-data": InputSerializer, "application/json": InputSerializer},
        responses={200: MeOutput, 400: ErrorOutput, 401: ErrorOutput},
    )
    def patch(self, request: Request) -> Response:
        user = selectors.owner_of(request)
        serializer = self.InputSerializer(data=request.data, context={"user": user})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if "avatar" in data and data["remove_avatar"]:
            raise serializers.ValidationError(
                {"avatar": ["Send a new avatar or remove_avatar, not both."]}
            )
        if "username" in data:
            try:
                services.user_username_set(user=user, username=data["username"])
            except DjangoValidationError as exc:
                raise serializers.ValidationError({"username": exc.messages}) from exc
        if "avatar" in data:
            try:
                services.user_avatar_upload(user=user, upload=data["avatar"])
            except AvatarError as exc:
                raise serializers.ValidationError({"avatar": [str(exc)]}) from exc
        if data["remove_avatar"]:
            services.user_avatar_remove(user=user)
        if data.get("identity_enabled") is not None:
            services.user_identity_set(user=user, enabled=data["identity_enabled"])
        return Response(_me(request, user))
