"""On-disk encodings of the Taskonomy domains, shared by the writer, the loader and ``check``.

Follows the real dataset: depth uint16 PNG in 1/512 m with 65535 = no data; normals 8-bit
RGB centred at 127 (x right, y up, z towards the camera); principal curvature 8-bit centred
at 127 in the first two channels; edges and keypoints uint16 PNG; segment ids uint16 PNG;
semantic classes uint8 PNG; low-dim domains float32 ``.npy``; point_info JSON.

The three class domains have two vocabularies (``Vocabulary``): the synthetic renderer's
(``SYNTHETIC``: object shares, one-hot room types, 20 semantic labels with 0 = structure) and
the real release's (``RELEASE``, ../shared/REALDATA.md): ``class_object`` 1000 ImageNet logits
(softmax on load), ``class_scene`` a 365-way Places vector of which the paper's 63 indoor
classes are kept and renormalised, ``segment_semantic`` 18 labels with 0 = uncertain (masked
out of the loss). A dataset folder says which it holds (``DatasetIndex.vocabulary``).

``decode_*`` turn a decoded file into physical values; ``target(domain, raw, vocab)`` into
the training target and validity mask used by ``taskonomy.data.dataset``.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from taskonomy.tasks import OBJECT_CLASSES, SCENE_CLASSES, SEMANTIC_CLASSES

DEPTH_UNITS = 512.0          # depth PNG counts per metre
DEPTH_MISSING = 65535
DEPTH_LOG_NORM = np.log(2.0 ** 16)
NORMAL_CENTRE = 127.0
CURV_CENTRE = 127.0
CURV_SCALE = 10.0            # PNG counts per 1/m of curvature (|k| <= 12.7 representable)
PNG_COMPRESS = 1             # 4x faster than PIL's default, files ~20% larger

# The paper's 63 indoor scene classes: positions in the release's 365-way Places vector
# (Places365's alphabetical category order: 3 alcove, 23 assembly_line, ..., 363 youth_hostel),
# as the authors' loader selects them before renormalising.
PLACES_INDOOR = (
    3, 23, 25, 26, 28, 37, 43, 45, 51, 52, 56, 61, 63, 88, 89, 93, 95, 100, 102, 106, 121, 124,
    126, 129, 131, 133, 135, 156, 165, 176, 177, 179, 182, 203, 208, 215, 217, 228, 240, 241,
    244, 246, 248, 253, 255, 264, 269, 280, 281, 282, 285, 298, 303, 311, 317, 318, 328, 332,
    343, 346, 352, 358, 363,
)


@dataclass(frozen=True)
class Vocabulary:
    """How the class domains of a dataset are stored and what the loader makes of them."""
    name: str
    object_values: int       # values in a class_object .npy
    scene_values: int        # values in a class_scene .npy
    semantic_labels: int     # segment_semantic labels 0..n-1
    object_logits: bool      # class_object holds logits (softmax on load), else a distribution
    scene_keep: tuple | None  # class_scene positions kept (then renormalised), None = all
    semantic_masked: int | None  # a segment_semantic label that is masked out of the loss

    def channels(self, task: str) -> int | None:
        """Output width of a class task in this vocabulary (class_object: 1000 in the release,
        class_scene: its 63 kept indoor classes, segment_semantic: 18 labels); None for every
        other task (its width is ``TASKS[task].channels``, the same for any dataset)."""
        if task == "class_object":
            return self.object_values
        if task == "class_scene":
            return len(self.scene_keep) if self.scene_keep else self.scene_values
        if task == "segment_semantic":
            return self.semantic_labels
        return None


SYNTHETIC = Vocabulary("synthetic", len(OBJECT_CLASSES), len(SCENE_CLASSES), len(SEMANTIC_CLASSES),
                       object_logits=False, scene_keep=None, semantic_masked=None)
RELEASE = Vocabulary("release", 1000, 365, 18, object_logits=True, scene_keep=PLACES_INDOOR,
                     semantic_masked=0)
VOCABULARIES = {v.name: v for v in (SYNTHETIC, RELEASE)}


def vocabulary_of(manifest: dict | None) -> Vocabulary:
    """The vocabulary of a dataset folder from its manifest.json (None: no manifest): a
    manifest's ``vocabulary`` key, else the synthetic renderer's for its own folders and the
    real release's for any other folder."""
    meta = manifest or {}
    name = meta.get("vocabulary") or ("synthetic" if meta.get("generator") == "taskonomy.data.synth"
                                      else "release")
    if name not in VOCABULARIES:
        raise ValueError(f"manifest.json: unknown vocabulary {name!r} (known: {', '.join(VOCABULARIES)})")
    return VOCABULARIES[name]


@dataclass(frozen=True)
class Domain:
    id: str
    ext: str                 # png | npy | json
    mode: str                # PIL mode written (png), or "" for npy/json
    channels: int


DOMAINS: dict[str, Domain] = {d.id: d for d in (
    Domain("rgb", "png", "RGB", 3),
    Domain("depth_zbuffer", "png", "I;16", 1),
    Domain("depth_euclidean", "png", "I;16", 1),
    Domain("normal", "png", "RGB", 3),
    Domain("reshading", "png", "L", 1),
    Domain("principal_curvature", "png", "RGB", 2),
    Domain("edge_texture", "png", "I;16", 1),
    Domain("edge_occlusion", "png", "I;16", 1),
    Domain("keypoints2d", "png", "I;16", 1),
    Domain("keypoints3d", "png", "I;16", 1),
    Domain("segment_unsup2d", "png", "I;16", 1),
    Domain("segment_unsup25d", "png", "I;16", 1),
    Domain("segment_semantic", "png", "L", 1),
    Domain("class_object", "npy", "", 0),
    Domain("class_scene", "npy", "", 0),
    Domain("room_layout", "npy", "", 9),
    Domain("vanishing_point", "npy", "", 9),
    Domain("point_info", "json", "", 0),
)}
STORED = tuple(DOMAINS)
LABEL_DOMAINS = ("segment_unsup2d", "segment_unsup25d", "segment_semantic")  # nearest resize

NAME_RE = re.compile(r"^point_(\d+)_view_(\d+)_domain_([a-z0-9_]+)\.(png|npy|json)$")


def filename(point: int, view: int, domain: str) -> str:
    return f"point_{point}_view_{view}_domain_{domain}.{DOMAINS[domain].ext}"


# ---------------------------------------------------------------- encode (writer side)
def encode_depth(metres: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    d = np.clip(np.round(np.asarray(metres) * DEPTH_UNITS), 0, DEPTH_MISSING - 1).astype(np.uint16)
    if valid is not None:
        d[~valid] = DEPTH_MISSING
    return d


def encode_normal(n_cam: np.ndarray) -> np.ndarray:
    """(H, W, 3) unit normals in the OpenCV camera frame -> RGB (x right, y up, z to camera)."""
    enc = np.stack([n_cam[..., 0], -n_cam[..., 1], -n_cam[..., 2]], axis=-1)
    return np.clip(np.round(NORMAL_CENTRE + 127.0 * enc), 0, 255).astype(np.uint8)


def encode_curvature(k1: np.ndarray, k2: np.ndarray) -> np.ndarray:
    out = np.full(k1.shape + (3,), int(CURV_CENTRE), np.uint8)
    out[..., 0] = np.clip(np.round(CURV_CENTRE + CURV_SCALE * k1), 0, 255)
    out[..., 1] = np.clip(np.round(CURV_CENTRE + CURV_SCALE * k2), 0, 255)
    return out


def encode_unit(x: np.ndarray) -> np.ndarray:
    """[0, 1] float map -> uint16 PNG values."""
    return np.round(np.clip(x, 0.0, 1.0) * 65535.0).astype(np.uint16)


# ---------------------------------------------------------------- file io
def write_png(path: Path, arr: np.ndarray, mode: str) -> None:
    if mode == "I;16":
        img = Image.fromarray(np.ascontiguousarray(arr, dtype=np.uint16))
    else:
        img = Image.fromarray(np.ascontiguousarray(arr, dtype=np.uint8), mode=None)
    img.save(path, format="PNG", compress_level=PNG_COMPRESS)


class DataFileError(IOError):
    """A missing, unreadable or out-of-range dataset file; the message names the path."""


def read_file(path: Path, domain: str):
    """Decoded raw contents of one dataset file (numpy array, or dict for point_info)."""
    ext = DOMAINS[domain].ext if domain in DOMAINS else path.suffix.lstrip(".")
    try:
        if ext == "png":
            with Image.open(path) as img:
                img.load()
                if img.mode in ("I;16", "I;16B", "I"):
                    return np.asarray(img).astype(np.int32)
                if img.mode == "P":
                    img = img.convert("L")
                return np.asarray(img)
        if ext == "npy":
            return np.load(path, allow_pickle=False)
        if ext == "json":
            with open(path) as f:
                return json.load(f)
    except FileNotFoundError:
        raise DataFileError(f"missing dataset file: {path}") from None
    except Exception as e:  # noqa: BLE001 - any decoder failure is a corrupt file
        raise DataFileError(f"corrupt dataset file: {path} ({type(e).__name__}: {e})") from None
    raise DataFileError(f"unknown file type of {path}")


# ---------------------------------------------------------------- decode (physical values)
def decode_depth(raw: np.ndarray):
    """metres and validity mask."""
    raw = np.asarray(raw)
    if raw.ndim == 3:
        raw = raw[..., 0]
    valid = raw != DEPTH_MISSING
    return raw.astype(np.float32) / DEPTH_UNITS, valid


def decode_normal(raw: np.ndarray) -> np.ndarray:
    """RGB -> (H, W, 3) float in [-1, 1] (x right, y up, z towards the camera)."""
    return np.clip((raw[..., :3].astype(np.float32) - NORMAL_CENTRE) / 127.0, -1.0, 1.0)


def decode_curvature(raw: np.ndarray) -> np.ndarray:
    """-> (H, W, 2) principal curvatures k1 >= k2 in 1/m (convex surfaces negative)."""
    return (raw[..., :2].astype(np.float32) - CURV_CENTRE) / CURV_SCALE


def _hw1(x):
    x = np.asarray(x)
    return x[..., 0] if x.ndim == 3 else x


class EncodingError(ValueError):
    """A file whose values do not fit the dataset's encoding (the caller names the file)."""


def _vector(raw, n: int, what: str) -> np.ndarray:
    v = np.asarray(raw, np.float64).reshape(-1)
    if v.size != n:
        raise EncodingError(f"{what}: {v.size} values, expected {n}")
    if not np.all(np.isfinite(v)):
        raise EncodingError(f"{what}: non-finite values")
    return v


def decode_class_object(raw, vocab: Vocabulary = SYNTHETIC) -> np.ndarray:
    """Distribution over the object classes (the release's logits through a softmax)."""
    v = _vector(raw, vocab.object_values, f"class_object ({vocab.name})")
    if vocab.object_logits:
        e = np.exp(v - v.max())
        v = e / e.sum()
    return v.astype(np.float32)


def decode_class_scene(raw, vocab: Vocabulary = SYNTHETIC) -> np.ndarray:
    """Distribution over the scene classes (the release: the 63 indoor ones, renormalised)."""
    v = _vector(raw, vocab.scene_values, f"class_scene ({vocab.name})")
    if vocab.scene_keep is not None:
        v = v[list(vocab.scene_keep)]
        total = v.sum()
        if not total > 0:
            raise EncodingError("class_scene: no probability on the indoor classes")
        v = v / total
    return v.astype(np.float32)


def decode_semantic(raw, vocab: Vocabulary = SYNTHETIC):
    """(H, W) int64 labels and the (1, H, W) float32 mask of the masked label (None if none)."""
    labels = _hw1(raw).astype(np.int64)
    top = int(labels.max(initial=0))
    if top >= vocab.semantic_labels or labels.min(initial=0) < 0:
        raise EncodingError(f"segment_semantic ({vocab.name}): label {top} outside 0..{vocab.semantic_labels - 1}")
    if vocab.semantic_masked is None:
        return labels, None
    return labels, (labels != vocab.semantic_masked)[None].astype(np.float32)


def target(domain: str, raw, vocab: Vocabulary = SYNTHETIC):
    """Training target (C, H, W) float32 / (H, W) int64 / vector, and mask (1, H, W) or None.

    Raises ``EncodingError`` when a class file does not fit ``vocab``."""
    if domain in ("depth_zbuffer", "depth_euclidean"):
        raw = _hw1(raw).astype(np.float32)
        valid = raw != DEPTH_MISSING
        y = np.where(valid, np.log1p(raw) / DEPTH_LOG_NORM, 0.0).astype(np.float32)
        return y[None], valid[None].astype(np.float32)
    if domain == "normal":
        return decode_normal(raw).transpose(2, 0, 1).copy(), None
    if domain == "principal_curvature":
        # scaled to roughly [-1, 1]: (v - 127) / 127
        y = (raw[..., :2].astype(np.float32) - CURV_CENTRE) / 127.0
        return y.transpose(2, 0, 1).copy(), None
    if domain == "reshading":
        return (_hw1(raw).astype(np.float32) / 255.0)[None], None
    if domain in ("edge_texture", "edge_occlusion", "keypoints2d", "keypoints3d"):
        raw = _hw1(raw)
        scale = 255.0 if raw.dtype == np.uint8 else 65535.0
        return (raw.astype(np.float32) / scale)[None], None
    if domain == "segment_semantic":
        return decode_semantic(raw, vocab)
    if domain in LABEL_DOMAINS:
        return _hw1(raw).astype(np.int64), None
    if domain == "class_object":
        return decode_class_object(raw, vocab), None
    if domain == "class_scene":
        return decode_class_scene(raw, vocab), None
    if domain in ("room_layout", "vanishing_point"):
        return np.asarray(raw, np.float32).reshape(-1), None
    raise KeyError(f"no training target for domain {domain!r}")
