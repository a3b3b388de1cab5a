"""The user model: email is the login, a unique username is shown, an avatar is optional."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models


def avatar_path(instance: User, filename: str) -> str:
    # The file name is never taken from the upload: avatars are always stored as PNG thumbnails.
    return f"avatars/{instance.pk or 'new'}/avatar.png"


class EmailUserManager(UserManager["User"]):
    """Creates users from an email address; the username is required as well."""

    def create_user(  # type: ignore[override]
        self,
        email: str,
        password: str | None = None,
        **extra_fields: Any,
    ) -> User:
        if not email:
            raise ValueError("An email address is required")
        email = self.normalize_email(email)
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        user = self.model(email=email, **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(  # type: ignore[override]
        self,
        email: str,
        password: str | None = None,
        **extra_fields: Any,
    ) -> User:
        extra_fields["is_staff"] = True
        extra_fields["is_superuser"] = True
        return self.create_user(email, password, **extra_fields)


class User(AbstractUser):
    email = models.EmailField("email address", unique=True)
    avatar = models.ImageField(upload_to=avatar_path, blank=True)
    # Identity features (verifying, recognising people) work only once the user turns them on.
    identity_enabled = models.BooleanField(
        "identity features",
        default=False,
        help_text="Compare faces to tell whether they are the same person, and recognise people.",
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = ["username"]

    objects: ClassVar[EmailUserManager] = EmailUserManager()

    class Meta:
        ordering = ("email",)

    def __str__(self) -> str:
        return self.email


class ApiToken(models.Model):
    """A named API key. Only a hash of the key is stored: the key itself is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(
        max_length=8, help_text="The key's first characters, to tell keys apart."
    )
    key_hash = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created",)
        indexes = [models.Index(fields=["user", "-created"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
