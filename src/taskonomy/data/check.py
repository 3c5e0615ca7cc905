"""Validate a dataset folder: every domain present for every view, decodable, in range.

    taskonomy data check data/synth        # exit code 1 and a list of problems if any

Works on the synthetic data (with manifest.json) and on real Taskonomy folders (both
nestings; only the domains found are checked).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from taskonomy.data import encodings as enc
from taskonomy.data.dataset import DatasetIndex
from taskonomy.tasks import OBJECT_CLASSES, SCENE_CLASSES, SEMANTIC_CLASSES


def _check_values(domain: str, raw, size) -> str | None:
    if domain == "point_info":
        need = ("camera_location", "field_of_view_rads", "point_location")
        missing = [k for k in need if k not in raw]
        if missing:
            return f"point_info lacks {missing}"
        if "camera_rotation_matrix" not in raw and "camera_rotation_final" not in raw:
            return "point_info lacks a camera rotation"
        return None
    if enc.DOMAINS[domain].ext == "npy":
        a = np.asarray(raw)
        want = {"class_object": len(OBJECT_CLASSES), "class_scene": len(SCENE_CLASSES),
                "room_layout": 9, "vanishing_point": 9}.get(domain)
        if want is not None and a.size != want:
            return f"{a.size} values, expected {want}"
        if not np.all(np.isfinite(a)):
            return "non-finite values"
        if domain in ("class_object", "class_scene") and (a.min() < 0 or abs(a.sum() - 1) > 1e-3):
            return "not a distribution (negative or does not sum to 1)"
        return None
    a = np.asarray(raw)
    if size is not None and a.shape[:2] != (size, size):
        return f"shape {a.shape[:2]}, expected {(size, size)}"
    if domain == "normal":
        if a.ndim != 3 or a.shape[2] < 3:
            return f"expected an RGB image, got shape {a.shape}"
        n = enc.decode_normal(a)
        norm = np.sqrt((n ** 2).sum(-1))
        ok = norm > 0.05     # missing data encodes as 127,127,127
        if ok.any() and np.abs(norm[ok] - 1).max() > 0.08:
            return f"normals not unit length (max |n|-1 = {np.abs(norm[ok] - 1).max():.3f})"
    if domain == "segment_semantic" and a.max(initial=0) >= len(SEMANTIC_CLASSES):
        return f"class id {a.max()} >= {len(SEMANTIC_CLASSES)} classes"
    if domain in ("depth_zbuffer", "depth_euclidean") and a.min(initial=0) < 0:
        return "negative depth"
    return None


def check_dataset(root, progress: bool = True) -> list[str]:
    """List of problems (empty when the dataset is valid); each names the file."""
    root = Path(root)
    problems: list[str] = []
    try:
        index = DatasetIndex(root)
    except Exception as e:  # noqa: BLE001
        return [str(e)]
    size = None
    man = root / "manifest.json"
    manifest = json.loads(man.read_text()) if man.exists() else None
    if manifest:
        size = manifest.get("size")
        expected = manifest["counts"]["views"]
        if len(index.keys) != expected:
            problems.append(f"{root}: {len(index.keys)} views found, manifest says {expected}")
        for b in manifest["buildings"]:
            if b not in index.buildings:
                problems.append(f"{root}: building {b} of the manifest has no rgb files")
    domains = manifest["domains"] if manifest else [d for d in index.domains if d in enc.DOMAINS]
    keys = index.keys
    if manifest:   # expected views from the manifest, so that a missing rgb file is named too
        from taskonomy.data.dataset import ViewKey
        keys = [ViewKey(b, p, v) for b in manifest["buildings"] if b in index.buildings
                for p in range(manifest["points_per_building"]) for v in range(manifest["views_per_point"])]
    for key in tqdm(keys, desc=f"check {root}", unit="view", disable=not progress):
        for d in domains:
            path = index.path(key, d)
            if not path.exists():
                problems.append(f"missing dataset file: {path}")
                continue
            try:
                raw = enc.read_file(path, d)
            except enc.DataFileError as e:
                problems.append(str(e))
                continue
            msg = _check_values(d, raw, size)
            if msg:
                problems.append(f"bad values in {path}: {msg}")
    return problems
