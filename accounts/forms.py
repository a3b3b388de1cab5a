"""Forms of the account pages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.validators import UnicodeUsernameValidator

from accounts.models import User
from accounts.services import username_check


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=16,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


class UsernameForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = User
        fields = ("username",)
        help_texts = {"username": "Shown in the navigation. Letters, digits and @ . + - _ only."}

    username = forms.CharField(max_length=150, validators=[UnicodeUsernameValidator()])

    def clean_username(self) -> str:
        # The same rules as the API's.
        return username_check(user=self.instance, username=self.cleaned_data["username"])


class AvatarForm(forms.Form):
    avatar = forms.FileField(label="New picture", help_text="JPEG, PNG, WebP or BMP.")


class PasswordConfirmForm(forms.Form):
    password = forms.CharField(
        label="Your password",
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self) -> str:
        password: str = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError("This is not your password.")
        return password


class TokenCreateForm(PasswordConfirmForm):
    name = forms.CharField(
        label="Name", max_length=100, help_text="What the token is for, e.g. “lab scripts”."
    )
    field_order = ("name", "password")

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, user=user, **kwargs)
