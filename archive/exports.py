"""Exporting analyses as CSV (a row per face), JSON (as the API shows them) and ZIP (the JSON,
the CSV and the pictures)."""

from __future__ import annotations

import csv
import io
import json
import logging
import tempfile
import zipfile
from collections.abc import Iterable
from typing import IO, Any

from accounts.files import STORAGE_ERRORS
from analysis.ml.types import EMOTIONS
from archive.api.serializers import SavedAnalysisOutput
from archive.models import Person, SavedAnalysis

logger = logging.getLogger(__name__)

CSV_HEADER = [
    "analysis_id",
    "name",
    "created",
    "source",
    "detector",
    "passes",
    "face",
    "x",
    "y",
    "w",
    "h",
    *EMOTIONS,
    "dominant_emotion",
    "confidence",
    "verdict",
]


def _cell(text: str) -> str:
    # A spreadsheet runs a cell starting with = + - @ as a formula: names are data, not code.
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


VIDEO_CSV_HEADER = ["t", "track", "x", "y", "w", "h", *EMOTIONS, "dominant_emotion"]


def export_csv(analyses: Iterable[SavedAnalysis]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    for analysis in analyses:
        for face in analysis.faces.all():
            writer.writerow(
                [
                    analysis.pk,
                    _cell(analysis.name),
                    analysis.created.isoformat(),
                    analysis.source,
                    analysis.detector,
                    analysis.passes,
                    face.index,
                    *face.box,
                    *(f"{face.emotions[e]:.4f}" for e in EMOTIONS),
                    face.dominant_emotion,
                    f"{face.confidence:.4f}",
                    face.verdict,
                ]
            )
    # A byte-order mark lets spreadsheet programs read the names' Unicode correctly.
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def export_video_csv(result: dict[str, Any]) -> bytes:
    """One row per sampled frame and face, as users of py-feat and fer tabulate videos."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(VIDEO_CSV_HEADER)
    for frame in result.get("frames", []):
        for face in frame["faces"]:
            writer.writerow(
                [
                    f"{frame['t']:.3f}",
                    face["track"],
                    *face["box"],
                    *(f"{face['emotions'][name]:.4f}" for name in EMOTIONS),
                    face["dominant_emotion"],
                ]
            )
    return buffer.getvalue().encode("utf-8")


def export_json(analyses: Iterable[SavedAnalysis]) -> bytes:
    body = {"analyses": SavedAnalysisOutput(list(analyses), many=True).data}
    return json.dumps(body, ensure_ascii=False, indent=2).encode("utf-8")


def export_people(people: Iterable[Person]) -> bytes:
    """The people a user enrolled: names and enrolled faces (where each was in its photo),
    without the signatures, which describe the faces and can be computed again."""
    body = {
        "people": [
            {
                "name": person.name,
                "created": person.created.isoformat(),
                "enrolled_faces": [
                    {"box": signature.box, "origin": signature.source, "model": signature.model}
                    for signature in person.signatures.all()
                ],
            }
            for person in people
        ]
    }
    return json.dumps(body, ensure_ascii=False, indent=2).encode("utf-8")


def export_zip(
    analyses: Iterable[SavedAnalysis], people: Iterable[Person] | None = None
) -> IO[bytes]:
    """A ZIP file, rewound; it spills to a temporary file past 32 MB instead of memory. With
    ``people``, it holds them too (people.json)."""
    items = list(analyses)
    buffer = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)  # noqa: SIM115
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("analyses.json", export_json(items))
        archive.writestr("faces.csv", export_csv(items))
        if people is not None:
            archive.writestr("people.json", export_people(people))
        for analysis in items:
            for kind in ("original", "annotated"):
                field = getattr(analysis, kind)
                if not field:
                    continue
                try:
                    with field.open("rb") as handle:
                        data = handle.read()
                except STORAGE_ERRORS as exc:
                    # A lost file must not lose the rest of the export.
                    logger.warning("Export skips %s: %s", field.name, exc)
                    continue
                # JPEGs are already compressed: store them as they are.
                archive.writestr(
                    f"images/{analysis.pk}-{kind}.jpg", data, compress_type=zipfile.ZIP_STORED
                )
    buffer.seek(0)
    return buffer
