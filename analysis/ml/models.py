"""The process's models, each loaded once on first use (see registry)."""

from __future__ import annotations

from analysis.ml.registry import get_model
from analysis.ml.types import EmotionClassifier, Enhancer, FaceDetector

DETECTORS = ("auto", "haar", "mtcnn")
# Measured with benchmarks/accuracy.py on the labelled faces: MTCNN finds 98% of them against
# 87% for the Haar cascade, and gives the landmarks alignment needs, so "auto" means MTCNN.
AUTO_DETECTOR = "mtcnn"


def detector(name: str, *, threads: int = 2) -> FaceDetector:
    if name not in DETECTORS:
        raise ValueError(f"Unknown detector {name!r}; choose one of {', '.join(DETECTORS)}")
    if name == "auto":
        name = AUTO_DETECTOR
    if name == "haar":
        from analysis.ml.haar import HaarDetector

        return get_model("haar", HaarDetector)

    def load_mtcnn() -> FaceDetector:
        from analysis.ml.mtcnn import MTCNNDetector

        return MTCNNDetector(threads=threads)

    return get_model("mtcnn", load_mtcnn)


ENHANCERS = ("none", "gfpgan", "realesrgan")


def enhancer(name: str, *, threads: int = 2) -> Enhancer | None:
    """The face enhancer called ``name`` ("none" gives None).

    Raises FileNotFoundError (with what to install) when its weights are not on this machine,
    and NotImplementedError for GFPGAN, which this version cannot run.
    """
    if name not in ENHANCERS:
        raise ValueError(f"Unknown enhancer {name!r}; choose one of {', '.join(ENHANCERS)}")
    if name == "none":
        return None
    if name == "gfpgan":
        raise NotImplementedError(
            "GFPGAN v1.4 face restoration is not available in this version; "
            "use enhance=realesrgan (super-resolution) or none."
        )

    def load() -> Enhancer:
        from analysis.ml.realesrgan import RealESRGANEnhancer

        return RealESRGANEnhancer(threads=threads)

    return get_model("realesrgan", load)


def emotion_classifier(*, threads: int = 2) -> EmotionClassifier:
    def load() -> EmotionClassifier:
        from analysis.ml.emotion import MiniXceptionClassifier

        return MiniXceptionClassifier(threads=threads)

    return get_model("emotion", load)
