from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from accounts.models import User


@pytest.mark.django_db
def test_users_log_in_with_their_email() -> None:
    user = User.objects.create_user("Carol@Example.ORG", "s3cret-pass", username="carol")
    assert User.USERNAME_FIELD == "email"
    assert user.email == "Carol@example.org"
    assert user.check_password("s3cret-pass")
    assert not user.is_staff


@pytest.mark.django_db
def test_email_and_username_are_unique() -> None:
    User.objects.create_user("dave@example.org", "pw-12345678", username="dave")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user("dave@example.org", "pw-12345678", username="dave2")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user("dave2@example.org", "pw-12345678", username="dave")


@pytest.mark.django_db
def test_createsuperuser_makes_staff() -> None:
    admin = User.objects.create_superuser("root@example.org", "pw-12345678", username="root")
    assert admin.is_staff
    assert admin.is_superuser
