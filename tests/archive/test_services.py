from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from accounts.models import User
from analysis.services import AnalysisRun
from archive.models import Face, SavedAnalysis
from archive.services import analyses_delete, analysis_save

pytestmark = pytest.mark.django_db


def _stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_a_save_keeps_rows_and_three_pictures(
    save_for: Callable[..., SavedAnalysis], alice: User
) -> None:
    saved = save_for(alice, "Team photo")
    assert saved.face_count == 2
    assert saved.dominant_emotion == "happy"
    assert [face.index for face in saved.faces.all()] == [0, 1]
    for field in (saved.original, saved.annotated, saved.thumbnail):
        assert field.name.startswith(f"archive/{alice.pk}/")
        assert default_storage.exists(field.name)
    face = saved.faces.first()
    assert sum(face.emotions.values()) == pytest.approx(1, abs=0.01)


def test_only_the_scores_are_kept_when_asked(
    save_for: Callable[..., SavedAnalysis], alice: User, settings
) -> None:  # type: ignore[no-untyped-def]
    saved = save_for(alice, keep_image=False)
    assert not saved.original
    assert not saved.annotated
    assert not saved.thumbnail
    assert saved.faces.count() == 2
    assert _stored_files(Path(settings.MEDIA_ROOT)) == []


def test_names_keep_any_unicode(save_for: Callable[..., SavedAnalysis], alice: User) -> None:
    saved = save_for(alice, "Fête 🎉 家族 — ünïcödé")
    assert SavedAnalysis.objects.get(pk=saved.pk).name == "Fête 🎉 家族 — ünïcödé"


def test_a_failed_file_write_leaves_no_rows_and_no_files(
    make_run: Callable[..., AnalysisRun],
    alice: User,
    settings,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    real_save = FileSystemStorage.save
    calls = []

    def failing_save(self: FileSystemStorage, name: str, content: object, **kwargs: object) -> str:
        calls.append(name)
        if len(calls) == 2:
            raise OSError("disk full")
        return real_save(self, name, content, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(FileSystemStorage, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        analysis_save(owner=alice, run=make_run(), name="doomed")
    assert not SavedAnalysis.objects.exists()
    assert _stored_files(Path(settings.MEDIA_ROOT)) == []


def test_a_failed_database_write_leaves_no_files(
    make_run: Callable[..., AnalysisRun],
    alice: User,
    settings,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    def broken_bulk_create(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(Face.objects, "bulk_create", broken_bulk_create)
    with pytest.raises(RuntimeError):
        analysis_save(owner=alice, run=make_run(), name="doomed")
    assert not SavedAnalysis.objects.exists()
    assert _stored_files(Path(settings.MEDIA_ROOT)) == []


@pytest.mark.django_db(transaction=True)
def test_delete_removes_the_files(
    save_for: Callable[..., SavedAnalysis], alice: User, settings
) -> None:  # type: ignore[no-untyped-def]
    saved = save_for(alice)
    kept = save_for(alice)
    analyses_delete(analyses=[saved])
    assert not SavedAnalysis.objects.filter(pk=saved.pk).exists()
    assert not Face.objects.filter(analysis_id=saved.pk).exists()
    remaining = {
        str(p.relative_to(settings.MEDIA_ROOT)) for p in _stored_files(Path(settings.MEDIA_ROOT))
    }
    assert remaining == {kept.original.name, kept.annotated.name, kept.thumbnail.name}


@pytest.mark.django_db(transaction=True)
def test_the_retention_command_deletes_old_analyses_and_their_files(
    save_for: Callable[..., SavedAnalysis],
    alice: User,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    old = save_for(alice, "old")
    new = save_for(alice, "new")
    SavedAnalysis.objects.filter(pk=old.pk).update(created=timezone.now() - dt.timedelta(days=40))
    settings.ARCHIVE_RETENTION_DAYS = 30
    call_command("archive_purge")
    assert list(SavedAnalysis.objects.values_list("name", flat=True)) == ["new"]
    assert not default_storage.exists(old.original.name)
    assert default_storage.exists(new.original.name)


@pytest.mark.django_db(transaction=True)
def test_the_retention_purge_deletes_old_finished_jobs_and_their_files(alice: User) -> None:
    from django.core.files.base import ContentFile

    from archive.models import Job
    from archive.tasks import archive_purge

    def job(state: str, days: int) -> Job:
        made = Job.objects.create(owner=alice, kind=Job.Kind.VIDEO, state=state)
        made.input.name = default_storage.save(
            f"jobs/{alice.pk}/{made.pk}/in.mp4", ContentFile(b"x")
        )
        made.save()
        Job.objects.filter(pk=made.pk).update(created=timezone.now() - dt.timedelta(days=days))
        return made

    old, running, recent = job("done", 40), job("running", 40), job("failed", 3)
    with override_settings(ARCHIVE_RETENTION_DAYS=30):
        assert archive_purge() == 1
    assert set(Job.objects.values_list("pk", flat=True)) == {running.pk, recent.pk}
    assert not default_storage.exists(old.input.name)
    assert default_storage.exists(recent.input.name)
