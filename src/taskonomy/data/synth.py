"""Write the embedded synthetic dataset in the Taskonomy layout.

    taskonomy data synth --out data/synth --buildings 40 --points 12 --views 3 --size 64 --workers 2

Files: ``<out>/<domain>/<building>/point_<i>_view_<j>_domain_<domain>.<ext>`` for every domain
of ``encodings.DOMAINS``, then ``<out>/manifest.json`` (written last, atomically: its
presence means the dataset is complete). Deterministic: every building and view derives its
seed from (seed, building), never from the worker, so the same arguments give
byte-identical files with any number of workers.
"""
from __future__ import annotations

import multiprocessing as mp
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from taskonomy import __version__
from taskonomy.data import encodings as enc
from taskonomy.data.derive import derive_view
from taskonomy.data.render import cast_rays
from taskonomy.data.scene import build_scene, plan_views
from taskonomy.io import write_json
from taskonomy.tasks import OBJECT_CLASSES, SCENE_CLASSES, SEMANTIC_CLASSES

FORMAT_VERSION = 1


@dataclass(frozen=True)
class SynthSettings:
    out: str
    buildings: int = 40
    points: int = 12
    views: int = 3
    size: int = 64
    seed: int = 0
    workers: int = 2
    val_fraction: float = 0.15
    test_fraction: float = 0.15

    def check(self) -> None:
        for key in ("buildings", "points", "views", "size", "workers"):
            if getattr(self, key) < 1:
                raise ValueError(f"synth setting {key!r} must be >= 1, got {getattr(self, key)}")
        if self.size < 16:
            raise ValueError(f"synth setting 'size' must be >= 16 pixels, got {self.size}")


def building_name(i: int) -> str:
    return f"synth{i:04d}"


def building_seed(seed: int, i: int) -> int:
    return int(np.random.SeedSequence([seed, i, 0x7A5C]).generate_state(1)[0])


def scene_class_of(seed: int, i: int) -> int:
    """Scene classes cycle through buildings (balanced), from a seed-dependent offset."""
    offset = int(np.random.SeedSequence([seed, 0x5CE]).generate_state(1)[0]) % len(SCENE_CLASSES)
    return (i + offset) % len(SCENE_CLASSES)


def make_scene(seed: int, i: int, points: int, views: int):
    s = building_seed(seed, i)
    scene = build_scene(building_name(i), s, scene_class_of(seed, i))
    plan_views(scene, points, views, s + 1, cast_rays)
    return scene


def splits(n: int, seed: int, val_fraction: float, test_fraction: float) -> dict:
    """Building-level train/val/test split, stratified by scene class (every class in every
    split when it has >= 3 buildings), deterministic; each split non-empty when n >= 3."""
    rng = np.random.default_rng([seed, 0x5911])
    by_class: dict = {}
    for i in range(n):
        by_class.setdefault(scene_class_of(seed, i), []).append(i)
    out = {"train": [], "val": [], "test": []}
    for cls in sorted(by_class):
        members = [by_class[cls][j] for j in rng.permutation(len(by_class[cls]))]
        k = len(members)
        n_val = max(1, round(k * val_fraction)) if k >= 3 else 0
        n_test = max(1, round(k * test_fraction)) if k >= 3 else 0
        out["val"] += members[:n_val]
        out["test"] += members[n_val:n_val + n_test]
        out["train"] += members[n_val + n_test:]
    if n >= 3:   # few buildings per class: make sure that val and test are not empty
        for split in ("val", "test"):
            if not out[split]:
                out[split].append(out["train"].pop(int(rng.integers(len(out["train"])))))
    return {k: sorted(building_name(i) for i in v) for k, v in out.items()}


_CACHE: dict = {}
_MADE: set = set()      # folders this process has created


def _render_point(job):
    """Worker: render and write all views of some points of one building; returns the view count."""
    out, seed, b, pts, points, views, size = job
    key = (seed, b, points, views)
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = make_scene(seed, b, points, views)
    scene = _CACHE[key]
    for p in pts:
        for v in range(views):
            write_view(Path(out), scene, scene.views[(p, v)], size)
    return views * len(pts)


def write_view(out: Path, scene, view, size: int) -> None:
    data = derive_view(scene, view, size)
    for domain, value in data.items():
        d = enc.DOMAINS[domain]
        folder = out / domain / scene.building
        if folder not in _MADE:
            folder.mkdir(parents=True, exist_ok=True)
            _MADE.add(folder)
        path = folder / enc.filename(view.point, view.view, domain)
        if d.ext == "png":
            enc.write_png(path, value, d.mode)
        elif d.ext == "npy":
            with open(path, "wb") as f:
                np.save(f, np.asarray(value, np.float32), allow_pickle=False)
        else:
            import json
            path.write_text(json.dumps(value, sort_keys=True, indent=1) + "\n")


def _init_worker():
    # one thread per worker process: the caster is elementwise numpy, BLAS threads only contend
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def synthesize(settings: SynthSettings, progress: bool = True) -> dict:
    """Render the whole dataset; returns the manifest (also written to <out>/manifest.json)."""
    settings.check()
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    # A job is a run of points of one building: whole buildings when there are enough of them
    # (each worker then builds and plans a scene once), smaller runs otherwise.
    chunks = max(1, -(-4 * settings.workers // settings.buildings)) if settings.workers > 1 else 1
    step = max(1, -(-settings.points // chunks))
    jobs = [(str(out), settings.seed, b, tuple(range(p, min(p + step, settings.points))), settings.points,
             settings.views, settings.size)
            for b in range(settings.buildings) for p in range(0, settings.points, step)]
    total = settings.buildings * settings.points * settings.views
    bar = tqdm(total=total, unit="view", desc=f"synth {out}", disable=not progress)
    if settings.workers == 1:
        for j in jobs:
            bar.update(_render_point(j))
    else:
        ctx = mp.get_context("fork") if hasattr(os, "fork") else mp.get_context()
        with ctx.Pool(settings.workers, initializer=_init_worker) as pool:
            for n in pool.imap(_render_point, jobs, chunksize=1):
                bar.update(n)
    bar.close()
    _CACHE.clear()
    names = [building_name(i) for i in range(settings.buildings)]
    manifest = {
        "format": "taskonomy", "format_version": FORMAT_VERSION, "generator": "taskonomy.data.synth",
        "taskonomy_version": __version__,
        "generator_args": {k: v for k, v in asdict(settings).items() if k not in ("out", "workers")},
        "buildings": names,
        "splits": splits(settings.buildings, settings.seed, settings.val_fraction, settings.test_fraction),
        "building_scene_class": {n: SCENE_CLASSES[scene_class_of(settings.seed, i)] for i, n in enumerate(names)},
        "points_per_building": settings.points, "views_per_point": settings.views,
        "size": settings.size, "domains": list(enc.DOMAINS),
        "counts": {"buildings": settings.buildings, "points": settings.buildings * settings.points,
                   "views": total, "files": total * len(enc.DOMAINS)},
        "scene_classes": list(SCENE_CLASSES), "semantic_classes": list(SEMANTIC_CLASSES),
        "object_classes": list(OBJECT_CLASSES),
        "encodings": {"depth": f"uint16 PNG, 1/{enc.DEPTH_UNITS:g} m, {enc.DEPTH_MISSING} = no data",
                      "normal": "RGB centred at 127: x right, y up, z towards the camera",
                      "principal_curvature": f"R=k1, G=k2 (k1>=k2, convex<0): 127 + {enc.CURV_SCALE:g} * k[1/m]",
                      "edges_keypoints": "uint16 PNG, [0,1] * 65535", "segments": "uint16 PNG ids",
                      "segment_semantic": "uint8 PNG, index into semantic_classes (0 = background)",
                      "lowdim": "float32 .npy"},
    }
    write_json(out / "manifest.json", manifest)
    return manifest
