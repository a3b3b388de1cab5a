"""The admin: what staff see of users' analyses, and that it reads as one product."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from accounts.models import User
from accounts.services import user_identity_set
from archive.models import SavedAnalysis
from tests.conftest import login_verified
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _staff(*permissions: str) -> Client:
    user = UserFactory(email="staff@example.org", username="staff", is_staff=True)
    for codename in permissions:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = Client()
    login_verified(client, user)
    return client


def test_staff_see_pictures_only_with_the_pictures_permission(
    alice: User, save_for: Callable[..., SavedAnalysis]
) -> None:
    saved = save_for(alice, "Holiday")
    thumbnail = f"/admin/archive/savedanalysis/{saved.pk}/thumbnail/"
    plain = _staff("view_savedanalysis")
    listing = plain.get("/admin/archive/savedanalysis/").content.decode()
    assert "Holiday" in listing
    assert "thumbnail" not in listing
    assert (
        "thumbnail"
        not in plain.get(f"/admin/archive/savedanalysis/{saved.pk}/change/").content.decode()
    )
    assert plain.get(thumbnail).status_code == 403

    User.objects.filter(email="staff@example.org").delete()
    trusted = _staff("view_savedanalysis", "view_pictures")
    assert "thumbnail" in trusted.get("/admin/archive/savedanalysis/").content.decode()
    response = trusted.get(thumbnail)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"


def test_the_admin_index_has_readable_groups_and_no_inline_script(
    alice: User, make_run: Callable[..., object]
) -> None:
    from archive.services import analysis_save

    analysis_save(owner=alice, run=make_run(faces=1), name="Only one face")  # type: ignore[arg-type]
    admin = UserFactory(email="root@example.org", username="root", is_staff=True, is_superuser=True)
    client = Client()
    login_verified(client, admin)
    index = client.get("/admin/").content.decode()
    groups = re.findall(r"<caption>\s*<a[^>]*>([^<]+)</a>", index)
    assert len(groups) == len(set(groups)), groups
    assert not any(group.strip().upper().startswith("OTP") for group in groups), groups
    page = client.get(f"/admin/archive/savedanalysis/{SavedAnalysis.objects.get().pk}/change/")
    html = page.content.decode()
    assert "Face 1 of saved analysis" in html
    # The site's Content-Security-Policy applies here too: no inline script may be needed.
    assert re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", html) == []


def test_jobs_are_listed_with_state_owner_and_duration_and_can_be_cancelled(alice: User) -> None:
    import datetime as dt

    from django.utils import timezone

    from archive.models import Job

    started = timezone.now() - dt.timedelta(seconds=90)
    done = Job.objects.create(
        owner=alice,
        kind=Job.Kind.VIDEO,
        name="Wedding clip",
        state=Job.State.DONE,
        started=started,
        finished=started + dt.timedelta(seconds=42),
    )
    queued = Job.objects.create(owner=alice, kind=Job.Kind.BATCH, name="Holiday photos")
    client = _staff("view_job")
    page = client.get("/admin/archive/job/").content.decode()
    assert "Wedding clip" in page
    assert "alice" in page
    assert "42.0" in page
    assert "Holiday photos" in page
    response = client.post(
        "/admin/archive/job/",
        {"action": "cancel", "_selected_action": [done.pk, queued.pk]},
    )
    assert response.status_code == 302
    queued.refresh_from_db()
    done.refresh_from_db()
    assert queued.state == Job.State.CANCELLED
    assert done.state == Job.State.DONE


def test_staff_see_a_persons_faces_and_appearances_but_never_a_signature(
    alice: User, save_for: Callable[..., SavedAnalysis]
) -> None:
    import numpy as np

    from analysis import services as analysis_services
    from archive.models import Person, PersonSignature

    person = Person.objects.create(owner=alice, name="Eileen Collins")
    vector = np.zeros(128, np.float32)
    vector[0] = 1.0
    PersonSignature.objects.create(
        person=person, vector=vector.tobytes(), model=analysis_services.SIGNATURE_MODEL
    )
    # One saved face carries the same signature: it is one of her appearances.
    saved = save_for(alice, "Launch")
    saved.faces.filter(index=0).update(
        signature=vector.tobytes(), signature_model=analysis_services.SIGNATURE_MODEL
    )
    staff = _staff("view_person")
    # Her identity features are off: her archive is not searched, even for staff.
    page = staff.get(f"/admin/archive/person/{person.pk}/change/").content.decode()
    assert "identity features are off for this user" in page
    user_identity_set(user=alice, enabled=True)
    listing = staff.get("/admin/archive/person/").content.decode()
    assert "Eileen Collins" in listing
    page = staff.get(f"/admin/archive/person/{person.pk}/change/").content.decode()
    assert re.search(r"enrolled faces:.*?<div class=\"readonly\">1</div>", page, re.S | re.I)
    assert re.search(r"appearances .*?<div class=\"readonly\">1 in 1</div>", page, re.S | re.I)
    assert "vector" not in page
    assert "signature" not in page.lower().replace("signatures are never shown", "")
