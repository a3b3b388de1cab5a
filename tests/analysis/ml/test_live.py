"""A camera stream's analysis (analysis.ml.live), with stand-in models and real frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from analysis.ml import live
from analysis.ml.live import LiveAnalyser
from analysis.ml.types import EMOTIONS, Box, RGBImage
from tests.analysis.fakes import FakeClassifier, FakeDetector, FakeQuickDetector, fake_scorer

HAPPY = {
    "angry": 0.05,
    "disgust": 0.0,
    "fear": 0.05,
    "happy": 0.7,
    "neutral": 0.1,
    "sad": 0.05,
    "surprise": 0.05,
}
SAD = {
    "angry": 0.05,
    "disgust": 0.0,
    "fear": 0.05,
    "happy": 0.05,
    "neutral": 0.1,
    "sad": 0.7,
    "surprise": 0.05,
}


def _frame(seed: int = 0) -> RGBImage:
    """A smooth 640x480 picture, a different one for each seed."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    return np.ascontiguousarray(cv2.resize(coarse, (640, 480), interpolation=cv2.INTER_CUBIC))


def test_a_face_keeps_its_number_while_it_moves_and_a_new_face_gets_a_new_one() -> None:
    quick = FakeQuickDetector([Box(100, 100, 120, 120)])
    analyser = LiveAnalyser(classifier=fake_scorer(), passes=1, full=None, quick=quick)
    numbers = []
    for step in range(5):
        quick.boxes = [Box(100 + 8 * step, 100, 120, 120)]
        numbers.append(analyser.analyse(_frame(step), now=step * 0.05).tracks)
    assert numbers == [(1,)] * 5
    quick.boxes = [Box(140, 100, 120, 120), Box(400, 120, 110, 110)]
    frame = analyser.analyse(_frame(9), now=0.3)
    assert frame.tracks == (1, 2)
    # Faces are numbered left to right within the frame, as everywhere else.
    assert [face.index for face in frame.result.faces] == [0, 1]
    # BlazeFace looked at every frame as it is, inside a border and mirrored at its edges
    # (faces cut by the edge).
    looks = {(0.0, False), (live.EDGE_BORDER, False), (live.EDGE_BORDER, True)}
    assert quick.borders == [look for _ in range(6) for look in sorted(looks)]


def test_a_face_only_the_mirrored_frame_shows_is_followed_every_frame() -> None:
    # The second face is cut by the frame's right edge: only the mirrored look finds it, and
    # its box reaches past the edge (it is reported clipped to the frame).
    quick = FakeQuickDetector([Box(100, 100, 120, 120)], mirrored=[Box(560, 140, 120, 120)])
    analyser = LiveAnalyser(classifier=fake_scorer(), passes=1, full=None, quick=quick)
    for step in range(3):
        frame = analyser.analyse(_frame(step), now=step * 0.05)
        assert [face.face.box.as_list() for face in frame.result.faces] == [
            [100, 100, 120, 120],
            [560, 140, 80, 120],
        ]
        assert frame.tracks == (1, 2)


def test_scores_are_smoothed_over_time_so_one_odd_frame_does_not_flip_the_label() -> None:
    classifier = FakeClassifier(HAPPY)
    analyser = LiveAnalyser(
        classifier=fake_scorer_of(classifier),
        passes=1,
        full=None,
        quick=FakeQuickDetector([Box(100, 100, 120, 120)]),
    )
    t = 0.0
    for step in range(10):
        analyser.analyse(_frame(step), now=t)
        t += 1 / 30
    classifier.probabilities = SAD
    odd = analyser.analyse(_frame(50), now=t).result.faces[0].emotions
    assert odd.dominant == "happy"
    assert 0.05 < odd.probabilities["sad"] < 0.7
    assert sum(odd.probabilities.values()) == pytest.approx(1, abs=0.01)
    # Once the face stays sad for a second (several time constants), the label follows.
    for step in range(30):
        t += 1 / 30
        last = analyser.analyse(_frame(100 + step), now=t).result.faces[0].emotions
    assert last.dominant == "sad"
    assert last.probabilities["sad"] == pytest.approx(0.7, abs=0.05)


def fake_scorer_of(classifier: FakeClassifier):  # type: ignore[no-untyped-def]
    from analysis.ml.ensemble import Ensemble

    return Ensemble([classifier])


def test_an_unchanged_picture_is_answered_again_without_analysing_it() -> None:
    classifier = FakeClassifier()
    quick = FakeQuickDetector([Box(100, 100, 120, 120)])
    analyser = LiveAnalyser(classifier=fake_scorer_of(classifier), passes=1, full=None, quick=quick)
    picture = _frame(1)
    first = analyser.analyse(picture, now=0.0)
    # Sensor noise of one grey level is the same picture.
    noisy = np.clip(picture.astype(np.int16) + 1, 0, 255).astype(np.uint8)
    again = analyser.analyse(noisy, now=0.1)
    assert not first.repeated
    assert again.repeated
    assert again.result.faces == first.result.faces
    assert len(classifier.batches) == 1
    # A change in one small region (a mouth that opens) is a new picture, however still the
    # rest is.
    mouth = picture.copy()
    mouth[300:340, 300:340] = 0
    assert not analyser.analyse(mouth, now=0.15).repeated
    # A changed picture is analysed, and so is an unchanged one after UNCHANGED_SECONDS.
    assert not analyser.analyse(_frame(2), now=0.2).repeated
    analyser.analyse(_frame(2), now=0.3)
    assert not analyser.analyse(_frame(2), now=0.3 + live.UNCHANGED_SECONDS + 0.1).repeated
    assert len(classifier.batches) == 4


def test_the_full_detector_runs_once_a_second_and_its_extra_faces_are_carried() -> None:
    quick = FakeQuickDetector([Box(100, 100, 120, 120)])
    # The full detector sees the 320 px copy: half the 640 px frame. It also finds a small
    # face that BlazeFace misses.
    full = FakeDetector([Box(50, 50, 60, 60), Box(250, 40, 20, 20)])
    analyser = LiveAnalyser(classifier=fake_scorer(), passes=1, full=full, quick=quick)
    boxes = []
    for step in range(20):
        frame = analyser.analyse(_frame(step), now=step * 0.1)
        boxes.append([face.face.box for face in frame.result.faces])
    # At 0 s, and at 1.5 s: a second later, but not before 15 frames have gone by.
    assert len(full.calls) == 2
    assert full.calls[0] == (320, 240)
    assert all(len(found) == 2 for found in boxes)
    assert boxes[0] == [Box(100, 100, 120, 120), Box(500, 80, 40, 40)]
    assert boxes[5] == [Box(100, 100, 120, 120), Box(500, 80, 40, 40)]


def test_a_face_cut_by_the_edge_is_not_carried_beside_itself() -> None:
    # BlazeFace's mirrored look boxes a face cut by the right edge whole, 90 px past it; the
    # full detector (on the 320 px copy) boxes its part inside the frame. Compared inside the
    # frame they are one face, so the full detector's is not carried beside BlazeFace's.
    quick = FakeQuickDetector([], mirrored=[Box(610, 100, 120, 120)])
    full = FakeDetector([Box(290, 45, 30, 70)])
    analyser = LiveAnalyser(classifier=fake_scorer(), passes=1, full=full, quick=quick)
    boxes = [
        [face.face.box for face in analyser.analyse(_frame(step), now=step * 0.1).result.faces]
        for step in range(3)
    ]
    assert len(full.calls) == 1
    assert boxes == [[Box(580, 90, 60, 140)], [Box(610, 100, 30, 120)], [Box(610, 100, 30, 120)]]


def test_a_change_in_the_number_of_faces_brings_the_full_detection_forward() -> None:
    quick = FakeQuickDetector([Box(100, 100, 120, 120)])
    full = FakeDetector([Box(50, 50, 60, 60)])
    analyser = LiveAnalyser(classifier=fake_scorer(), passes=1, full=full, quick=quick)
    for step in range(16):
        analyser.analyse(_frame(step), now=step * 0.02)
    assert len(full.calls) == 1
    quick.boxes = [Box(100, 100, 120, 120), Box(400, 100, 120, 120)]
    analyser.analyse(_frame(20), now=0.4)  # too soon after the last one
    assert len(full.calls) == 1
    analyser.analyse(_frame(21), now=0.6)  # half a second later: not a whole second
    assert len(full.calls) == 2


def test_a_long_stream_keeps_no_more_state_than_its_faces_in_view() -> None:
    quick = FakeQuickDetector()
    analyser = LiveAnalyser(classifier=fake_scorer(), passes=1, full=None, quick=quick)
    for step in range(300):
        # A different face every few frames: 100 faces come and go.
        quick.boxes = [Box(50 + 5 * (step // 3 % 2) * 60, 100, 100, 100)]
        analyser.analyse(_frame(step), now=step * 0.5)
    # Only the face in view is followed; no history of the faces that left is kept.
    assert len(analyser.tracker.open_tracks) == 1
    assert analyser.tracker.tracks == []
    assert len(analyser._smoothed) == 1


@pytest.mark.ml
def test_real_video_frames_give_each_person_a_steady_number(testdata: Path) -> None:
    from django.conf import settings

    from analysis.ml import loaders, video

    analyser = LiveAnalyser(
        classifier=loaders.emotion_classifier(models_dir=settings.ML_MODELS_DIR),
        passes=1,
        full=loaders.detector("auto"),
        quick=loaders.blazeface_detector(),
    )
    clip = testdata / "video" / "short_hamilton_clip.mp4"
    frames = list(video.sampled_frames(clip, fps=15, max_seconds=2.0, max_pixels=10**7))
    answers = [analyser.analyse(frame.pixels, now=frame.t) for frame in frames]
    # The clip's shots all show people (one shot cuts to a face that is turning away).
    assert sum(bool(answer.result.faces) for answer in answers) >= 0.9 * len(answers)
    for answer in answers:
        for face in answer.result.faces:
            assert sum(face.emotions.probabilities.values()) == pytest.approx(1, abs=0.01)
            assert set(face.emotions.probabilities) == set(EMOTIONS)
    # The first shot's people keep their numbers from one frame to the next.
    first = set(answers[0].tracks)
    assert sum(set(answer.tracks) == first for answer in answers[:10]) >= 8
