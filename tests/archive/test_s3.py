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
