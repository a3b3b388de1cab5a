"""The archive on an S3-compatible bucket, served by a local moto server (not a mocked client)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from django.conf import LazySettings
from django.test import Client
from moto.server import ThreadedMotoServer

from accounts.models import User
from archive.models import SavedAnalysis
from archive.services import analyses_delete
from tests.conftest import login_verified

pytestmark = pytest.mark.django_db(transaction=True)
BUCKET = "emotion-archive"


@pytest.fixture
def s3_bucket(settings: LazySettings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for name, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": endpoint,
                "access_key": "test",
                "secret_key": "test",
                "region_name": "us-east-1",
                "default_acl": "private",
                "querystring_auth": True,
                "file_overwrite": False,
            },
        },
    }
    # Changing STORAGES resets Django's storage cache (a setting_changed receiver).
    try:
        yield client
    finally:
        server.stop()


def _keys(client: Any) -> set[str]:
    listing = client.list_objects_v2(Bucket=BUCKET)
    return {item["Key"] for item in listing.get("Contents", [])}


def test_saved_pictures_go_to_the_bucket_are_served_to_the_owner_and_deleted(
    s3_bucket: Any, alice: User, bob: User, client: Client, save_for: Callable[..., SavedAnalysis]
) -> None:
    saved = save_for(alice, "in the cloud")
    assert _keys(s3_bucket) == {saved.original.name, saved.annotated.name, saved.thumbnail.name}
    acl = s3_bucket.get_object_acl(Bucket=BUCKET, Key=saved.original.name)
    assert all(grant["Grantee"].get("URI") is None for grant in acl["Grants"])  # not public

    login_verified(client, alice)
    response = client.get(f"/archive/{saved.pk}/image/annotated/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"  # type: ignore[attr-defined]
    other = Client()
    login_verified(other, bob)
    assert other.get(f"/archive/{saved.pk}/image/annotated/").status_code == 404

    analyses_delete(analyses=[saved])
    assert _keys(s3_bucket) == set()


def test_a_byte_range_of_a_jobs_video_is_asked_of_the_bucket_alone(
    s3_bucket: Any,
    alice: User,
    client: Client,
    settings: LazySettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A video player seeks with byte ranges; django-storages' file downloads the whole object
    # first (in 8 MB ranged parts past its threshold), so every seek fetched the whole video.
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from storages.backends.s3 import S3Storage

    from accounts.files import STORAGE_ERRORS, stored_range
    from accounts.services import api_token_create
    from archive.models import Job

    # Objects under a prefix of the bucket: the key is the storage's, not the stored name.
    default = settings.STORAGES["default"]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {**default, "OPTIONS": {**default["OPTIONS"], "location": "private"}},
    }
    data = bytes(range(256)) * 40_000  # 10 MB
    path = default_storage.save("jobs/clip.mp4", ContentFile(data))
    assert _keys(s3_bucket) == {f"private/{path}"}
    job = Job.objects.create(
        owner=alice, kind=Job.Kind.VIDEO, state=Job.State.DONE, input=path, files={"video": path}
    )
    asked: list[str | None] = []

    def record(params: dict[str, Any], **kwargs: Any) -> None:
        asked.append(params.get("Range"))

    # The storage's client is per thread; the test client serves the request in this one.
    events = default_storage.connection.meta.client.meta.events  # type: ignore[attr-defined]
    events.register("provide-client-params.s3.GetObject", record)
    key = api_token_create(user=alice, name="player").key

    def ranged(wanted: str) -> Any:
        return client.get(
            f"/api/v1/jobs/{job.pk}/files/video",
            HTTP_RANGE=f"bytes={wanted}",
            HTTP_AUTHORIZATION=f"Token {key}",
        )

    response = ranged("5000000-5000099")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 5000000-5000099/{len(data)}"
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert body == data[5000000:5000100]
    assert asked == ["bytes=5000000-5000099"]

    # An object gone from the bucket (cleaned by hand) is a 404 before anything is sent.
    s3_bucket.delete_object(Bucket=BUCKET, Key=f"private/{path}")
    gone = ranged("0-99")
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "not_found")
    # Gone between the size and the read (deleted while it played): a 404 too, since asking
    # for the range is what fails, before a response could start (not its first read).
    monkeypatch.setattr(S3Storage, "size", lambda self, name: len(data))
    with pytest.raises(STORAGE_ERRORS):
        stored_range(default_storage, path, 0, 100)
    raced = ranged("0-99")
    assert (raced.status_code, raced.json()["error"]["code"]) == (404, "not_found")
