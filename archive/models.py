"""Saved analyses and their faces, each owned by one user."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from analysis.ml.types import (
    EMOTIONS,
    Box,
    DetectedFace,
    EmotionScores,
    FaceResult,
    Landmarks,
    Quality,
)

EMOTION_CHOICES = [(name, name) for name in EMOTIONS]


class SavedAnalysis(models.Model):
    """An analysis the user saved to their archive (see analysis.services.AnalysisRun for one
    run of the analysis, and analysis.ml.types.ImageResult for its scores)."""

    class Source(models.TextChoices):
        UPLOAD = "upload", "Upload"
        CAMERA = "camera", "Camera"
        API = "api", "API"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="analyses"
    )
    name = models.CharField(max_length=200)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.UPLOAD)
    # Paths are random (see archive.services); the files have no public URL and are served
    # only to their owner by archive.views.analysis_image.
    original = models.FileField(max_length=255, blank=True)
    annotated = models.FileField(max_length=255, blank=True)
    thumbnail = models.FileField(max_length=255, blank=True)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    detector = models.CharField(max_length=20)
    passes = models.PositiveSmallIntegerField()
    enhance = models.CharField(max_length=20, default="none")
    model_versions = models.JSONField(default=dict)
    face_count = models.PositiveSmallIntegerField(default=0)
    dominant_emotion = models.CharField(max_length=10, choices=EMOTION_CHOICES, blank=True)
    # The size of the kept pictures, for the usage page (0 when only the scores were kept).
    bytes_stored = models.PositiveBigIntegerField(default=0)
    # Photos of a batch job that is still running (or died) are pending: kept out of every
    # page and answer until the job finishes, and deleted if it fails.
    collection = models.ForeignKey(
        "Collection", null=True, blank=True, on_delete=models.SET_NULL, related_name="analyses"
    )
    pending = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        # The table keeps the name it had when the model was called Analysis.
        db_table = "archive_analysis"
        ordering = ("-created", "-id")
        verbose_name = "saved analysis"
        verbose_name_plural = "saved analyses"
        # Staff who may manage analyses see their names and scores, not the photos: seeing
        # people's pictures is a permission of its own (superusers hold every permission).
        permissions = [("view_pictures", "Can see the pictures of users' saved analyses")]
        indexes = [
            models.Index(fields=["owner", "-created"], name="archive_owner_created"),
            models.Index(
                fields=["owner", "dominant_emotion", "-created"], name="archive_owner_emotion"
            ),
            models.Index(fields=["created"], name="archive_created"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def has_image(self) -> bool:
        return bool(self.annotated)


class Face(models.Model):
    analysis = models.ForeignKey(SavedAnalysis, on_delete=models.CASCADE, related_name="faces")
    index = models.PositiveSmallIntegerField()
    x = models.IntegerField()
    y = models.IntegerField()
    w = models.PositiveIntegerField()
    h = models.PositiveIntegerField()
    angry = models.FloatField()
    disgust = models.FloatField()
    fear = models.FloatField()
    happy = models.FloatField()
    neutral = models.FloatField()
    sad = models.FloatField()
    surprise = models.FloatField()
    dominant_emotion = models.CharField(max_length=10, choices=EMOTION_CHOICES)
    confidence = models.FloatField()
    spread = models.JSONField(default=dict)
    agreement = models.FloatField()
    verdict = models.CharField(max_length=10)
    reasons = models.JSONField(default=list)
    # What the live answer also holds, so that a saved face reads the same as a fresh one.
    score = models.FloatField(default=0.0)
    detector = models.CharField(max_length=20, blank=True)
    found_by = models.CharField(max_length=20, blank=True)
    landmarks = models.JSONField(null=True, blank=True)
    quality = models.JSONField(default=dict)
    # The face's signature (analysis.ml.embeddings, float32), kept when its owner has identity
    # features on, so that the face can be found among a person's appearances.
    signature = models.BinaryField(null=True, blank=True, editable=False)
    signature_model = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ("analysis", "index")
        constraints = [
            models.UniqueConstraint(fields=["analysis", "index"], name="archive_face_unique_index")
        ]

    def __str__(self) -> str:
        return f"Face {self.index + 1} of saved analysis {self.analysis_id}"

    @property
    def box(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]

    @property
    def emotions(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in EMOTIONS}

    def to_result(self) -> FaceResult:
        """The face as the pipeline gave it, so that a saved face is rendered exactly like a
        fresh one (analysis.api.serializers)."""
        quality = self.quality or {}
        landmarks = (
            Landmarks(*(tuple(point) for point in self.landmarks)) if self.landmarks else None
        )
        return FaceResult(
            index=self.index,
            face=DetectedFace(
                box=Box(*self.box),
                score=self.score,
                detector=self.detector,
                landmarks=landmarks,
                how=self.found_by or "detected",
            ),
            emotions=EmotionScores(
                probabilities=self.emotions,
                spread=self.spread or dict.fromkeys(EMOTIONS, 0.0),
                passes=self.analysis.passes,
                agreement=self.agreement,
            ),
            quality=Quality(
                verdict=self.verdict,
                reasons=tuple(self.reasons),
                face_size=int(quality.get("face_size", min(self.w, self.h))),
                sharpness=float(quality.get("sharpness", 0.0)),
                yaw=quality.get("yaw"),
                roll=quality.get("roll"),
            ),
        )


class UsageDay(models.Model):
    """How many analyses a user ran on one day from one source, saved or not: the pages,
    an API client (a token) or the camera (live frames and captures)."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="usage_days"
    )
    day = models.DateField()
    source = models.CharField(max_length=10, choices=SavedAnalysis.Source.choices)
    analyses = models.PositiveIntegerField(default=0)
    faces = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ("day", "source")
        constraints = [
            models.UniqueConstraint(fields=["owner", "day", "source"], name="archive_usage_day")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.source}: {self.analyses} analyses"


class Collection(models.Model):
    """Analyses saved together: the photos of one batch job."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="collections"
    )
    name = models.CharField(max_length=200)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created", "-id")

    def __str__(self) -> str:
        return self.name


class Job(models.Model):
    """Work that takes longer than a request: a video, a batch of photos, an enhancement.

    Runs on Celery when CELERY_BROKER_URL is set, else in a thread of the server process
    (archive.jobs). While running, the worker touches ``heartbeat`` every few seconds; a job
    whose heartbeat stops (its worker was killed) is marked failed.
    """

    class Kind(models.TextChoices):
        VIDEO = "video", "Video"
        BATCH = "batch", "Batch of photos"
        ENHANCE = "enhance", "Enhancement"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINISHED_STATES = (State.DONE, State.FAILED, State.CANCELLED)

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    name = models.CharField(max_length=200, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    message = models.CharField(max_length=200, blank=True)
    options = models.JSONField(default=dict)
    # The uploaded file (private, random path) and what the job made from it.
    input = models.FileField(max_length=255, blank=True)
    input_bytes = models.PositiveBigIntegerField(default=0)
    files = models.JSONField(default=dict)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    collection = models.ForeignKey(
        Collection, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    analysis = models.ForeignKey(
        SavedAnalysis, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    worker = models.CharField(max_length=200, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    heartbeat = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created", "-id")
        indexes = [
            models.Index(fields=["owner", "-created"], name="archive_job_owner_created"),
            models.Index(fields=["state", "heartbeat"], name="archive_job_state_heartbeat"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} job {self.pk}"

    @property
    def finished_state(self) -> bool:
        return self.state in self.FINISHED_STATES

    @property
    def duration_seconds(self) -> float | None:
        if self.started is None:
            return None
        end = self.finished or self.heartbeat or self.started
        return round((end - self.started).total_seconds(), 1)


class Person(models.Model):
    """Someone the user has enrolled, to be recognised in their pictures (with their consent:
    identity features must be on). The person keeps signatures, never the photos."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="people"
    )
    name = models.CharField(max_length=200)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name", "id")
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="archive_person_owner_name")
        ]
        verbose_name_plural = "people"

    def __str__(self) -> str:
        return self.name


class PersonSignature(models.Model):
    """One face of a person, as its signature (analysis.ml.embeddings): a vector of float32,
    from which the face cannot be seen again."""

    class Source(models.TextChoices):
        UPLOAD = "upload", "uploaded photo"
        ARCHIVE = "archive", "saved analysis"

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="signatures")
    vector = models.BinaryField()
    model = models.CharField(max_length=40)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.UPLOAD)
    # Where the face was in its picture, [x, y, w, h].
    box = models.JSONField(default=list)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("created", "id")

    def __str__(self) -> str:
        return f"signature {self.pk} of {self.person}"
