from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable

import pytest
from django.test import Client

from accounts.models import User
from archive.models import SavedAnalysis
from tests.conftest import SAD, login_verified

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alice_client(client: Client, alice: User) -> Client:
    login_verified(client, alice)
    return client


def _content(response) -> bytes:  # type: ignore[no-untyped-def]
    if hasattr(response, "streaming_content"):
        return b"".join(response.streaming_content)
    return response.content


def test_the_grid_lists_newest_first_with_thumbnails(
    alice_client: Client, alice: User, save_for: Callable[..., SavedAnalysis]
) -> None:
    first = save_for(alice, "first")
    second = save_for(alice, "second")
    html = alice_client.get("/archive/").content.decode()
    assert html.index("second") < html.index("first")
    assert f"/archive/{second.pk}/image/thumbnail/" in html
    assert alice_client.get(f"/archive/{first.pk}/image/thumbnail/")["Content-Type"] == "image/jpeg"


def test_search_filter_and_pagination(
    alice_client: Client, alice: User, save_for: Callable[..., SavedAnalysis]
) -> None:
    save_for(alice, "Beach day")
    save_for(alice, "Office party", emotions=SAD)
    for i in range(25):
        save_for(alice, f"filler {i}")
    assert "Office party" in alice_client.get("/archive/?q=office").content.decode()
    assert "Beach day" not in alice_client.get("/archive/?q=office").content.decode()
    sad = alice_client.get("/archive/?emotion=sad").content.decode()
    assert "Office party" in sad
    assert "Beach day" not in sad
    page1 = alice_client.get("/archive/")
    assert page1.context["page"].paginator.num_pages == 2
    assert len(page1.context["page"].object_list) == 24
    assert "Beach day" in alice_client.get("/archive/?page=2").content.decode()
    assert "Beach day" not in alice_client.get("/archive/?date_to=2000-01-01").content.decode()


def test_rename_in_place_and_delete_with_confirmation(
    alice_client: Client, alice: User, save_for: Callable[..., SavedAnalysis]
) -> None:
    saved = save_for(alice, "old name")
    alice_client.post(f"/archive/{saved.pk}/", {"name": "New name 🎈"})
    saved.refresh_from_db()
    assert saved.name == "New name 🎈"
    assert (
        "This field is required"
        in alice_client.post(f"/archive/{saved.pk}/", {"name": "  "}).content.decode()
    )
    confirm = alice_client.get(f"/archive/{saved.pk}/delete/")
    assert "Delete 1 analysis?" in confirm.content.decode()
    assert SavedAnalysis.objects.filter(pk=saved.pk).exists()
    alice_client.post(f"/archive/{saved.pk}/delete/")
    assert not SavedAnalysis.objects.filter(pk=saved.pk).exists()


def test_several_can_be_deleted_at_once(
    alice_client: Client, alice: User, save_for: Callable[..., SavedAnalysis]
) -> None:
    items = [save_for(alice, f"item {i}") for i in range(3)]
    ids = [str(items[0].pk), str(items[1].pk)]
    confirm = alice_client.post("/archive/bulk/", {"ids": ids, "action": "delete"})
    assert "Delete 2 analyses?" in confirm.content.decode()
    alice_client.post("/archive/bulk/", {"ids": ids, "action": "delete-confirmed"})
    assert list(SavedAnalysis.objects.values_list("name", flat=True)) == ["item 2"]


def test_exports_as_csv_json_and_zip(
    alice_client: Client, alice: User, save_for: Callable[..., SavedAnalysis]
) -> None:
    a = save_for(alice, "Ünïcode 😀")
    save_for(alice, "other", keep_image=False)
    rows = list(
        csv.DictReader(
            io.StringIO(_content(alice_client.get("/archive/export/csv/")).decode("utf-8-sig"))
        )
    )
    assert len(rows) == 4  # two analyses of two faces each
    assert {row["name"] for row in rows} == {"Ünïcode 😀", "other"}
    assert float(rows[0]["happy"]) > 0.5

    selected = alice_client.post("/archive/bulk/", {"ids": [a.pk], "action": "export-json"})
    body = json.loads(_content(selected))
    assert [item["name"] for item in body["analyses"]] == ["Ünïcode 😀"]
    assert len(body["analyses"][0]["faces"]) == 2

    archive = zipfile.ZipFile(io.BytesIO(_content(alice_client.get("/archive/export/zip/"))))
    names = set(archive.namelist())
    assert {
        "analyses.json",
        "faces.csv",
        f"images/{a.pk}-original.jpg",
        f"images/{a.pk}-annotated.jpg",
    } <= names
    assert archive.read(f"images/{a.pk}-original.jpg")[:2] == b"\xff\xd8"


def test_the_statistics_count_the_dominant_emotions(
    alice_client: Client, alice: User, save_for: Callable[..., SavedAnalysis]
) -> None:
    save_for(alice)
    save_for(alice, emotions=SAD)
    page = alice_client.get("/archive/stats/")
    stats = page.context["stats"]
    assert stats.faces == 4
    assert stats.dominant_counts["happy"] == 2
    assert stats.dominant_counts["sad"] == 2
    assert len(stats.timeline) == 1


def test_another_users_analysis_is_a_404_everywhere(
    alice_client: Client, alice: User, bob: User, save_for: Callable[..., SavedAnalysis]
) -> None:
    theirs = save_for(bob, "bob's secret")
    for url in (
        f"/archive/{theirs.pk}/",
        f"/archive/{theirs.pk}/delete/",
        f"/archive/{theirs.pk}/image/original/",
        f"/archive/{theirs.pk}/image/annotated/",
        f"/archive/{theirs.pk}/image/thumbnail/",
    ):
        assert alice_client.get(url).status_code == 404, url
    assert alice_client.post(f"/archive/{theirs.pk}/", {"name": "mine"}).status_code == 404
    assert alice_client.post(f"/archive/{theirs.pk}/delete/").status_code == 404
    alice_client.post("/archive/bulk/", {"ids": [theirs.pk], "action": "delete-confirmed"})
    exported = _content(
        alice_client.post(
            "/archive/bulk/", {"ids": [theirs.pk], "action": "export-csv"}, follow=True
        )
    )
    assert b"bob's secret" not in exported
    assert b"bob's secret" not in _content(alice_client.get("/archive/export/json/"))
    # The list holds alice's own analyses only (the page escapes names, so the page's text is
    # no proof: the listed objects are).
    mine = save_for(alice, "alice's own")
    listed = [item.pk for item in alice_client.get("/archive/").context["page"].object_list]
    assert listed == [mine.pk]
    theirs.refresh_from_db()
    assert theirs.name == "bob's secret"


def test_odd_ids_and_filters_never_cause_a_server_error(
    alice_client: Client, alice: User, save_for: Callable[..., SavedAnalysis]
) -> None:
    save_for(alice, "Beach")
    save_for(alice, "Office")
    for ids in (["²"], ["9" * 30], ["-1"], ["abc"]):
        response = alice_client.post("/archive/bulk/", {"ids": ids, "action": "delete"})
        assert response.status_code == 302
    assert SavedAnalysis.objects.count() == 2
    # A mistyped date is reported and the other filters still apply.
    page = alice_client.get("/archive/?q=beach&date_from=not-a-date")
    assert page.status_code == 200
    assert "Beach" in page.content.decode()
    assert "Office" not in page.content.decode()
    assert "Enter a valid date" in page.content.decode()


def test_csv_cells_that_look_like_formulas_are_neutralised(
    alice_client: Client, alice: User, save_for: Callable[..., SavedAnalysis]
) -> None:
    save_for(alice, '=HYPERLINK("http://evil.example")')
    text = _content(alice_client.get("/archive/export/csv/")).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["name"] == '\'=HYPERLINK("http://evil.example")'


def test_a_picture_missing_from_storage_is_a_404_not_an_error(
    alice_client: Client, alice: User, save_for: Callable[..., SavedAnalysis]
) -> None:
    saved = save_for(alice, "lost file")
    saved.annotated.storage.delete(saved.annotated.name)
    assert alice_client.get(f"/archive/{saved.pk}/image/annotated/").status_code == 404
    archive = zipfile.ZipFile(io.BytesIO(_content(alice_client.get("/archive/export/zip/"))))
    assert f"images/{saved.pk}-original.jpg" in archive.namelist()
    assert f"images/{saved.pk}-annotated.jpg" not in archive.namelist()


@pytest.mark.parametrize("kind", ["original", "annotated", "thumbnail"])
def test_each_picture_is_served_as_a_jpeg_to_its_owner(
    alice_client: Client, alice: User, save_for: Callable[..., SavedAnalysis], kind: str
) -> None:
    from PIL import Image

    saved = save_for(alice, "pictures")
    for url in (f"/archive/{saved.pk}/image/{kind}/", f"/api/v1/analyses/{saved.pk}/images/{kind}"):
        response = alice_client.get(url)
        assert response.status_code == 200, url
        assert response["Content-Type"] == "image/jpeg"
        picture = Image.open(io.BytesIO(_content(response)))
        assert picture.format == "JPEG"
        if kind == "thumbnail":
            assert max(picture.size) <= 360
        else:
            assert picture.size == (saved.width, saved.height)


def test_unknown_actions_formats_and_kinds_are_refused_clearly(
    alice_client: Client, alice: User, save_for: Callable[..., SavedAnalysis]
) -> None:
    saved = save_for(alice, "kept")
    assert (
        alice_client.post("/archive/bulk/", {"ids": [saved.pk], "action": "shred"}).status_code
        == 404
    )
    assert alice_client.get("/archive/export/xls/").status_code == 404
    assert alice_client.get(f"/archive/{saved.pk}/image/raw/").status_code == 404
    api = alice_client.get(f"/api/v1/analyses/{saved.pk}/images/raw")
    assert api.status_code == 400
    assert api.json()["error"]["code"] == "validation_error"
    assert alice_client.get("/api/v1/analyses/export/csv?ids=a,b").status_code == 400
    # Nothing was lost on the way.
    assert SavedAnalysis.objects.filter(pk=saved.pk, name="kept").exists()
