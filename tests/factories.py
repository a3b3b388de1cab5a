"""factory_boy factories for the project's models."""

from __future__ import annotations

import factory

from accounts.models import User

DEFAULT_PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("email",)

    email = factory.Sequence(lambda n: f"user{n}@example.org")
    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password(DEFAULT_PASSWORD)
