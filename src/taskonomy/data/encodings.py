"""On-disk encodings of the Taskonomy domains, shared by the writer, the loader and ``check``.

Follows the real dataset: depth uint16 PNG in 1/512 m with 65535 = no data; normals 8-bit
RGB centred at 127 (x right, y up, z towards the camera); principal curvature 8-bit centred
at 127 in the first two channels; edges and keypoints uint16 PNG; segment ids uint16 PNG;
semantic classes uint8 PNG; low-dim domains float32 ``.npy``; point_info JSON.

``decode(domain, raw)`` turns a decoded file into physical values; ``target(domain, raw)``
into the training target and validity mask used by ``taskonomy.data.dataset``.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

DEPTH_UNITS = 512.0          # depth PNG counts per metre
DEPTH_MISSING = 65535
DEPTH_LOG_NORM = np.log(2.0 ** 16)
NORMAL_CENTRE = 127.0
CURV_CENTRE = 127.0
CURV_SCALE = 10.0            # PNG counts per 1/m of curvature (|k| <= 12.7 representable)
PNG_COMPRESS = 1             # 4x faster than PIL's default, files ~20% larger


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


def target(domain: str, raw):
    """Training target (C, H, W) float32 / (H, W) int64 / vector, and mask (1, H, W) or None."""
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
    if domain in LABEL_DOMAINS:
        return _hw1(raw).astype(np.int64), None
    if domain in ("class_object", "class_scene", "room_layout", "vanishing_point"):
        return np.asarray(raw, np.float32).reshape(-1), None
    raise KeyError(f"no training target for domain {domain!r}")
