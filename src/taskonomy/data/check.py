"""Validate a dataset folder: every domain present for every view, decodable, in range.

    taskonomy data check data/synth                          # exit code 1 and a list of problems if any
    taskonomy data check /data/taskonomy --exclude-out bad.txt   # and list the bad files in bad.txt

Works on the synthetic data (with manifest.json) and on real Taskonomy folders (every nesting;
only the domains found are checked, in the release's encodings; a view counts if any of its
domains has a file, so a missing rgb file is found too). ``--exclude-out`` writes the missing
and undecodable files as an exclusion list (``taskonomy.data.select``: ``data.exclude``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from taskonomy.data import encodings as enc
from taskonomy.data.dataset import VIEW_RE, DatasetIndex, ViewKey, _listdir


@dataclass(frozen=True)
class Problem:
    message: str
    path: Path | None = None        # the bad file, when the problem is one file's

    def __str__(self) -> str:
        return self.message


def _check_values(domain: str, raw, size, vocab: enc.Vocabulary) -> str | None:
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
        try:
            if domain in ("class_object", "class_scene"):   # sizes of the vocabulary, finite
                enc.target(domain, a, vocab)
        except enc.EncodingError as e:
            return str(e)
        want = {"room_layout": 9, "vanishing_point": 9}.get(domain)
        if want is not None and a.size != want:
            return f"{a.size} values, expected {want}"
        if not np.all(np.isfinite(a)):
            return "non-finite values"
        stored_probabilities = (domain == "class_scene" or not vocab.object_logits)
        if domain in ("class_object", "class_scene") and stored_probabilities and a.min() < 0:
            return "not a distribution (negative values)"
        if domain in ("class_object", "class_scene") and vocab is enc.SYNTHETIC and abs(a.sum() - 1) > 1e-3:
            return "not a distribution (does not sum to 1)"
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
    if domain == "segment_semantic":
        try:
            enc.decode_semantic(a, vocab)
        except enc.EncodingError as e:
            return str(e)
    if domain in ("depth_zbuffer", "depth_euclidean") and a.min(initial=0) < 0:
        return "negative depth"
    return None


def find_problems(root, progress: bool = True) -> list[Problem]:
    """Every problem of the dataset at ``root`` (empty when it is valid); each names the file."""
    root = Path(root)
    try:
        index = DatasetIndex(root)
    except Exception as e:  # noqa: BLE001
        return [Problem(str(e))]
    problems: list[Problem] = []
    manifest = index.manifest if (index.manifest or {}).get("generator") == "taskonomy.data.synth" else None
    size = None
    if manifest:
        size = manifest.get("size")
        expected = manifest["counts"]["views"]
        if len(index.keys) != expected:
            problems.append(Problem(f"{root}: {len(index.keys)} views found, manifest says {expected}"))
        for b in manifest["buildings"]:
            if b not in index.buildings:
                problems.append(Problem(f"{root}: building {b} of the manifest has no rgb files"))
    domains = manifest["domains"] if manifest else ["rgb"] + [d for d in index.domains if d in enc.DOMAINS and d != "rgb"]
    if manifest:   # expected views from the manifest, so that a missing rgb file is named too
        keys = [ViewKey(b, p, v) for b in manifest["buildings"] if b in index.buildings
                for p in range(manifest["points_per_building"]) for v in range(manifest["views_per_point"])]
    else:          # every view that any domain has a file of
        keys = sorted(set(index.keys) | {k for d in domains if d != "rgb" for k in _views_in(index, d)})
    for key in tqdm(keys, desc=f"check {root}", unit="view", disable=not progress):
        for d in domains:
            path = index.path(key, d)
            if not path.exists():
                problems.append(Problem(f"missing dataset file: {path}", path))
                continue
            try:
                raw = enc.read_file(path, d)
            except enc.DataFileError as e:
                problems.append(Problem(str(e), path))
                continue
            msg = _check_values(d, raw, size, index.vocabulary)
            if msg:
                problems.append(Problem(f"bad values in {path}: {msg}", path))
    return problems


def _views_in(index: DatasetIndex, domain: str) -> set[ViewKey]:
    views = set()
    for b in index.buildings:
        folder = index.path(ViewKey(b, 0, 0), domain).parent
        if not folder.is_dir():
            continue
        for name in _listdir(folder):
            if m := VIEW_RE.match(name):
                views.add(ViewKey(b, int(m.group(1)), int(m.group(2))))
    return views


def check_dataset(root, progress: bool = True) -> list[str]:
    """List of problems (empty when the dataset is valid); each names the file."""
    return [p.message for p in find_problems(root, progress)]
