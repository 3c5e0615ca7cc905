"""PyTorch datasets over the Taskonomy layout (the synthetic data and real Taskonomy folders).

    from taskonomy.data.dataset import TaskonomyDataset, TupleDataset
    ds = TaskonomyDataset("data/synth", split="train", tasks=["normal", "class_scene"])
    tds = TupleDataset("data/synth", split="train", task="fixated_pose", seed=0)

The contract (keys, shapes, dtypes, ranges) is docs/interfaces.md. Files are indexed once
(one directory listing of the rgb folder per building); a missing or corrupt file raises
``DataFileError`` naming its path. Splits come from ``manifest.json`` (synthetic data, or a
selection of a real folder by ``taskonomy data select``, which also lists known-bad views to
skip) or a Taskonomy ``train_val_test_*.csv`` (``split_file=``, real data); ``split="all"``
takes every building. Class files are read in the folder's vocabulary (synthetic or the real
release's, ``encodings.Vocabulary``). Load-time tasks (autoencoding, denoising, colorization, inpainting, jigsaw) are
made here from the RGB, deterministically for a seed.
"""
from __future__ import annotations

import csv
import functools
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial.transform import Rotation

from taskonomy.data import encodings as enc
from taskonomy.data import geometry
from taskonomy.tasks import JIGSAW_PERMUTATIONS, TASKS, resolve

SPLITS = ("train", "val", "test", "all")
DENOISE_SIGMA = 0.2          # Gaussian noise std on RGB in [-1, 1]
COLOR_AB_SCALE = 100.0       # Lab a, b / 100 -> roughly [-1, 1]


# The older release (`<root>/<building>/<folder>/`) used other folder names; some file names
# differ too (points/...domain_fixatedpose.json; places/point_i_view_j.npy has no domain).
# domain -> (folder, domain in the file name or None).
LEGACY_NAMES = {
    "depth_zbuffer": ("depth", "depth"), "depth_euclidean": ("mist", "mist"),
    "reshading": ("reshade", "reshade"), "principal_curvature": ("curvature", "curvature"),
    "edge_texture": ("edge2d", "edge2d"), "edge_occlusion": ("edge", "edge"),
    "keypoints2d": ("keypoint2d", "keypoint2d"), "keypoints3d": ("keypoint", "keypoint"),
    "segment_unsup2d": ("segment2d", "segment2d"), "segment_unsup25d": ("segment25d", "segment25d"),
    "segment_semantic": ("segmentsemantic", "segmentsemantic"), "class_scene": ("places", None),
    "class_object": ("softmax1000", None), "point_info": ("points", "fixatedpose"),
}


@dataclass(frozen=True, order=True)
class ViewKey:
    building: str
    point: int
    view: int


class DatasetIndex:
    """Views of a dataset folder and the path of any (view, domain) file.

    Detects the nesting: ``<root>/<domain>/<building>/`` (current release, synthetic data),
    ``<root>/<domain>/<dataset>/<building>/`` (omnidata's download) or
    ``<root>/<building>/<domain>/`` (older release). ``root`` may also be a folder holding only
    a selection manifest (``taskonomy data select``, ``taskonomy.data.select``): its ``root``
    names the dataset folder, its ``splits`` the buildings of each split and its ``exclude``
    the known-bad views, which are then left out of ``keys`` (``excluded`` counts them).
    ``vocabulary`` says how the class domains are stored (``encodings.Vocabulary``): the
    synthetic renderer's for its own folders, the real release's otherwise (a manifest's
    ``vocabulary`` key names it explicitly).
    """

    def __init__(self, root, buildings=None):
        self.root = Path(root)
        man = self.root / "manifest.json"
        self.manifest = json.loads(man.read_text()) if man.is_file() else None
        if self.manifest and "root" in self.manifest:      # a selection of another folder
            self.root = self.root / self.manifest["root"]
        if not self.root.is_dir():
            raise FileNotFoundError(f"dataset folder not found: {self.root}")
        self.vocabulary = enc.vocabulary_of(self.manifest)
        self._dataset_of: dict[str, str] = {}
        if (self.root / "rgb").is_dir():
            self.nesting = _domain_first_nesting(self.root / "rgb")
            if self.nesting == "domain/building":
                all_buildings = sorted(p.name for p in (self.root / "rgb").iterdir() if p.is_dir())
            else:
                self._dataset_of = _buildings_of_datasets(self.root / "rgb")
                all_buildings = sorted(self._dataset_of)
            # hidden folders (the lineage records' .lineage/) are never domains
            self.domains = sorted(p.name for p in self.root.iterdir()
                                  if p.is_dir() and not p.name.startswith("."))
        else:
            self.nesting = "building/domain"
            all_buildings = sorted(p.name for p in self.root.iterdir() if (p / "rgb").is_dir())
            self.domains = sorted(p.name for p in (self.root / all_buildings[0]).iterdir()
                                  if p.is_dir()) if all_buildings else []
        if not all_buildings:
            raise FileNotFoundError(f"{self.root}: no rgb folder found in any Taskonomy nesting "
                                    "(<root>/rgb/<building>/, <root>/rgb/<dataset>/<building>/ or <root>/<building>/rgb/)")
        # folder / file-name domain of each domain (the older release's names where they are used)
        self._names = {d: (d, d) for d in self.domains}
        for d, (folder, file_domain) in LEGACY_NAMES.items():
            if d not in self._names and folder in self.domains:
                self._names[d] = (folder, file_domain)
        self.domains = sorted(set(self.domains) | set(self._names))
        self.buildings = all_buildings if buildings is None else list(buildings)
        missing = sorted(set(self.buildings) - set(all_buildings))
        if missing:
            raise FileNotFoundError(f"{self.root}: no rgb files for building(s) {missing}")
        keys = []
        for b in self.buildings:
            for name in _listdir(self._folder(b, "rgb")):
                m = enc.NAME_RE.match(name)
                if m and m.group(3) == "rgb":
                    keys.append(ViewKey(b, int(m.group(1)), int(m.group(2))))
        bad = {ViewKey(*v) for v in (self.manifest or {}).get("exclude", {}).get("views", [])}
        self.keys: list[ViewKey] = sorted(k for k in keys if k not in bad)
        self.excluded = len(keys) - len(self.keys)

    def _folder(self, building: str, domain: str) -> Path:
        if self.nesting == "domain/building":
            return self.root / domain / building
        if self.nesting == "domain/dataset/building":
            return self.root / domain / self._dataset_of[building] / building
        return self.root / building / domain

    def view_of(self, path) -> ViewKey:
        """The view of a dataset file, from its path (relative to the dataset folder, or not)."""
        path = Path(path)
        parts = (path.relative_to(self.root) if path.is_absolute() else path).parts
        depth = {"domain/building": 1, "domain/dataset/building": 2, "building/domain": 0}[self.nesting]
        m = VIEW_RE.match(parts[-1]) if parts else None
        if m is None or len(parts) != depth + 2:
            raise ValueError(f"{path}: not a dataset file of {self.root} ({self.nesting} nesting, "
                             "point_<p>_view_<v>... file names)")
        return ViewKey(parts[depth], int(m.group(1)), int(m.group(2)))

    def path(self, key: ViewKey, domain: str) -> Path:
        ext = enc.DOMAINS[domain].ext if domain in enc.DOMAINS else "png"
        folder, file_domain = self._names.get(domain, (domain, domain))
        name = f"point_{key.point}_view_{key.view}" + (f"_domain_{file_domain}" if file_domain else "")
        return self._folder(key.building, folder) / f"{name}.{ext}"

    def read(self, key: ViewKey, domain: str):
        return enc.read_file(self.path(key, domain), domain)


VIEW_RE = re.compile(r"^point_(\d+)_view_(\d+)[._]")


def _domain_first_nesting(rgb: Path) -> str:
    """``domain/building`` when the rgb folder's first sub-folder holds the view files,
    ``domain/dataset/building`` (omnidata) when it holds building folders."""
    for sub in sorted(p for p in rgb.iterdir() if p.is_dir() and not p.name.startswith(".")):
        with os.scandir(sub) as it:
            for e in it:
                if e.is_file() and enc.NAME_RE.match(e.name):
                    return "domain/building"
                if e.is_dir() and not e.name.startswith("."):
                    return "domain/dataset/building"
    return "domain/building"


def _buildings_of_datasets(rgb: Path) -> dict[str, str]:
    """building -> the dataset folder holding it (omnidata's rgb/<dataset>/<building>/)."""
    out: dict[str, str] = {}
    for ds in sorted(p for p in rgb.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for b in sorted(p.name for p in ds.iterdir() if p.is_dir()):
            if b in out:
                raise ValueError(f"{rgb}: building {b!r} is in two datasets ({out[b]}, {ds.name})")
            out[b] = ds.name
    return out


def _listdir(folder: Path) -> tuple[str, ...]:
    try:
        return tuple(sorted(p.name for p in folder.iterdir()))
    except FileNotFoundError:
        raise enc.DataFileError(f"missing dataset folder: {folder}") from None


def split_buildings(index: DatasetIndex, split: str, split_file=None) -> list[str]:
    """Buildings of a split, from ``split_file`` (Taskonomy CSV: id,train,val,test) or the manifest."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    if split == "all":
        return list(index.buildings)
    if split_file is not None:
        with open(split_file) as f:
            rows = list(csv.DictReader(f))
        names = [r["id"] for r in rows if str(r.get(split, "0")).strip() == "1"]
        present = [b for b in names if b in index.buildings]
        if not present:
            raise ValueError(f"split {split!r} of {split_file}: none of its buildings is in {index.root}")
        return present
    if index.manifest is None or "splits" not in index.manifest:
        raise ValueError(f"{index.root} has no manifest.json with splits: pass split_file= "
                         f"(a train_val_test_*.csv) or use split='all'")
    return list(index.manifest["splits"][split])


def _rgb_tensor(raw: np.ndarray) -> torch.Tensor:
    if raw.ndim == 2:
        raw = np.repeat(raw[..., None], 3, axis=2)
    return torch.from_numpy(raw[..., :3].astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1).contiguous()


def _resize(x: torch.Tensor, size, nearest: bool) -> torch.Tensor:
    if size is None or x.shape[-1] == size and x.shape[-2] == size:
        return x
    squeeze = x.dim() == 2
    y = x[None, None] if squeeze else x[None]
    dtype = y.dtype
    y = F.interpolate(y.float(), size=(size, size), mode="nearest" if nearest else "bilinear",
                      align_corners=None if nearest else False)
    y = y.to(dtype)
    return y[0, 0] if squeeze else y[0]


class _Base(torch.utils.data.Dataset):
    def __init__(self, root, split: str, size, seed: int, split_file):
        self.root = Path(root)
        full = DatasetIndex(root)
        if size is None and (full.manifest or {}).get("generator") == "taskonomy.data.select":
            size = full.manifest.get("size")     # a selection's image side (data.size)
        self.buildings = split_buildings(full, split, split_file)
        self.index = DatasetIndex(root, self.buildings)
        self.keys = self.index.keys
        self.split, self.size, self.seed = split, size, seed
        if self.index.excluded:     # the known-bad views of data.exclude (taskonomy data select)
            listed = (full.manifest or {}).get("exclude", {}).get("file", "the exclusion list")
            print(f"{self.root}: split {split!r}: skipping {self.index.excluded} of {len(self.keys) + self.index.excluded}"
                  f" views (known-bad files listed in {listed})", file=sys.stderr)
        if not self.keys:
            raise ValueError(f"{self.root}: split {split!r} has no views")
        self._pos = {k: i for i, k in enumerate(self.keys)}

    def __len__(self) -> int:
        return len(self.keys)

    def rgb(self, i: int) -> torch.Tensor:
        return _resize(_rgb_tensor(self.index.read(self.keys[i], "rgb")), self.size, nearest=False)


def _vanishing_from_info(info: dict) -> np.ndarray:
    """Real release: point_info['vanishing_points_gaussian_sphere'] {x, y, z: unit 3-vectors}."""
    if "vanishing_points" in info:
        return np.asarray(info["vanishing_points"], np.float32)
    vp = info["vanishing_points_gaussian_sphere"]
    return np.concatenate([np.asarray(vp[a], np.float32) for a in ("x", "y", "z")])


# low-dim targets that real folders keep inside point_info rather than in a domain folder
FROM_POINT_INFO = {"vanishing_point": _vanishing_from_info}


class TaskonomyDataset(_Base):
    """One view per item: RGB, encoder inputs, targets and masks of single-image tasks."""

    def __init__(self, root, split: str = "train", tasks=(), size: int | None = None, seed: int = 0,
                 split_file=None):
        super().__init__(root, split, size, seed, split_file)
        self.tasks = [resolve(t) for t in tasks]
        for t in self.tasks:
            task = TASKS[t]
            if task.views > 1:
                raise ValueError(f"task {t!r} takes {task.views} views: use TupleDataset(task={t!r})")
            if (not task.load_time and task.kind != "none" and t not in self.index.domains
                    and not (t in FROM_POINT_INFO and "point_info" in self.index.domains)):
                raise FileNotFoundError(f"{self.root}: no folder for domain {t!r} (task {t})")
        self._has_depth = "depth_zbuffer" in self.index.domains

    def __getitem__(self, i: int) -> dict:
        key = self.keys[i]
        rgb = self.rgb(i)
        item = {"rgb": rgb, "index": torch.tensor(i, dtype=torch.int64)}
        valid = None
        for t in self.tasks:
            task = TASKS[t]
            if task.kind == "none":
                continue
            if task.load_time:
                x, y, m = self._load_time(t, rgb, i)
                if x is not None:
                    item[f"x/{t}"] = x
                item[f"y/{t}"], item[f"m/{t}"] = y, m
                continue
            if t not in self.index.domains:     # real data: read from point_info
                y, m = FROM_POINT_INFO[t](self.index.read(key, "point_info")), None
            else:
                y, m = self._target(key, t)
            if task.kind == "lowdim":
                item[f"y/{t}"] = torch.from_numpy(y)
                continue
            if y.ndim == 2:
                yt = _resize(torch.from_numpy(y), self.size, nearest=True)
            else:
                yt = _resize(torch.from_numpy(y), self.size, nearest=t in ("depth_zbuffer", "depth_euclidean"))
            if m is None:
                if valid is None:
                    valid = self._valid(key)
                mt = valid
            else:
                mt = _resize(torch.from_numpy(m), self.size, nearest=True)
            item[f"y/{t}"], item[f"m/{t}"] = yt, mt
        return item

    def _target(self, key, t: str):
        path = self.index.path(key, t)
        try:
            return enc.target(t, enc.read_file(path, t), self.index.vocabulary)
        except enc.EncodingError as e:
            raise enc.DataFileError(f"bad values in dataset file: {path} ({e})") from None

    def _valid(self, key) -> torch.Tensor:
        """Validity from the depth file (missing depth = missing geometry), else all valid."""
        if self._has_depth:
            _, m = enc.target("depth_zbuffer", self.index.read(key, "depth_zbuffer"))
            return _resize(torch.from_numpy(m), self.size, nearest=True)
        s = self.size or self.rgb(self._pos[key]).shape[-1]
        return torch.ones(1, s, s)

    def _load_time(self, t: str, rgb: torch.Tensor, i: int):
        ones = torch.ones(1, *rgb.shape[1:])
        if t == "autoencoding":
            return None, rgb.clone(), ones
        if t == "denoising":
            g = torch.Generator().manual_seed(int(np.random.SeedSequence([self.seed, i, 1]).generate_state(1)[0]))
            noisy = rgb + DENOISE_SIGMA * torch.randn(rgb.shape, generator=g)
            return noisy.clamp(-1.5, 1.5), rgb.clone(), ones
        if t == "colorization":
            from skimage.color import rgb2lab
            lab = rgb2lab(((rgb.permute(1, 2, 0).numpy() + 1) / 2).clip(0, 1))
            gray = torch.from_numpy((lab[..., 0] / 50.0 - 1.0).astype(np.float32))
            ab = torch.from_numpy((lab[..., 1:] / COLOR_AB_SCALE).astype(np.float32)).permute(2, 0, 1)
            return gray[None].repeat(3, 1, 1), ab.contiguous(), ones
        if t == "inpainting":
            x = rgb.clone()
            h, w = rgb.shape[1:]
            x[:, h // 4: h - h // 4, w // 4: w - w // 4] = 0.0
            return x, rgb.clone(), ones      # the paper's "impainting_whole": loss on the whole image
        raise ValueError(f"no load-time recipe for task {t!r}")


# ---------------------------------------------------------------- multi-view tasks
@functools.lru_cache(maxsize=4)
def jigsaw_permutations(n: int = JIGSAW_PERMUTATIONS, seed: int = 1000) -> np.ndarray:
    """Fixed set of ``n`` permutations of 9 tiles, greedily far apart in Hamming distance."""
    rng = np.random.default_rng(seed)
    pool = np.array([rng.permutation(9) for _ in range(max(2000, 20 * n))])
    chosen = [np.arange(9)[::-1].copy()]
    dist = (pool != chosen[0]).sum(1)
    while len(chosen) < n:
        k = int(np.argmax(dist))
        chosen.append(pool[k])
        dist = np.minimum(dist, (pool != pool[k]).sum(1))
    return np.stack(chosen).astype(np.int64)


def camera_from_info(info: dict):
    """(eye, R world-from-camera in OpenCV convention, fov) from a point_info dict."""
    eye = np.asarray(info["camera_location"], float)
    if "camera_rotation_matrix" in info:
        R = np.asarray(info["camera_rotation_matrix"], float)
    else:   # real Taskonomy: Blender XYZ Euler of a camera looking down -z with y up
        R = Rotation.from_euler("xyz", info["camera_rotation_final"]).as_matrix() @ np.diag([1.0, -1.0, -1.0])
    return eye, R, float(info.get("field_of_view_rads", 1.0))


def relative_pose_6d(info_a: dict, info_b: dict) -> np.ndarray:
    ea, Ra, _ = camera_from_info(info_a)
    eb, Rb, _ = camera_from_info(info_b)
    return geometry.pose_vector(geometry.relative_pose(Ra, ea, Rb, eb))


class TupleDataset(_Base):
    """2-/3-view tuples (fixated_pose, nonfixated_pose, point_matching, egomotion) and jigsaw tiles.

    One tuple per view of the split (that view is the anchor), drawn once at construction
    from ``seed``: the same seed gives the same tuples. point_matching alternates positives
    (two views of one point) and negatives (views of two different points).
    """

    def __init__(self, root, split: str = "train", task: str = "fixated_pose", seed: int = 0,
                 size: int | None = None, split_file=None):
        super().__init__(root, split, size, seed, split_file)
        self.task = resolve(task)
        t = TASKS[self.task]
        if t.views < 2:
            raise ValueError(f"task {self.task!r} is single-view: use TaskonomyDataset")
        rng = np.random.default_rng([seed, 0x7B1E])
        by_point: dict = {}
        for i, k in enumerate(self.keys):
            by_point.setdefault((k.building, k.point), []).append(i)
        self.tuples: list = []
        n = len(self.keys)
        if self.task == "jigsaw":
            perms = len(jigsaw_permutations())
            self.tuples = [((i,), int(rng.integers(perms))) for i in range(n)]
            return
        need = 3 if self.task == "egomotion" else 2
        if max(len(v) for v in by_point.values()) < need:
            raise ValueError(f"{self.root}: task {self.task!r} needs >= {need} views of a point")
        if self.task in ("fixated_pose", "egomotion"):
            anchors = [i for i in range(n) if len(by_point[(self.keys[i].building, self.keys[i].point)]) >= need]
            for k in range(n):
                a = anchors[k % len(anchors)]
                others = [j for j in by_point[(self.keys[a].building, self.keys[a].point)] if j != a]
                self.tuples.append(((a, *rng.choice(others, need - 1, replace=False).tolist()), None))
        elif self.task == "point_matching":
            points_of: dict = {}
            for (b, p) in by_point:
                points_of.setdefault(b, []).append(p)
            anchors = [i for i in range(n) if len(by_point[(self.keys[i].building, self.keys[i].point)]) >= 2]
            all_points = list(by_point)
            for k in range(n):
                a = anchors[k % len(anchors)]
                ka = self.keys[a]
                if k % 2 == 0:
                    others = [j for j in by_point[(ka.building, ka.point)] if j != a]
                    self.tuples.append(((a, int(rng.choice(others))), 1))
                else:
                    cands = [q for q in points_of[ka.building] if q != ka.point]
                    if cands:
                        q = (ka.building, int(rng.choice(cands)))
                    else:
                        q = all_points[int(rng.integers(len(all_points)))]
                        if q == (ka.building, ka.point):
                            raise ValueError(f"{self.root}: point_matching needs >= 2 points")
                    self.tuples.append(((a, int(rng.choice(by_point[q]))), 0))
        elif self.task == "nonfixated_pose":
            pairs_of = []
            for i, k in enumerate(self.keys):
                info = self.index.read(k, "point_info")
                seen = [q for q in info.get("nonfixated_points_in_view", []) if isinstance(q, int)]
                views = [j for q in seen for j in by_point.get((k.building, q), [])]
                if views:
                    pairs_of.append((i, views))
            if not pairs_of:
                raise ValueError(f"{self.root}: no two views of split {split!r} share visible points "
                                 "(point_info nonfixated_points_in_view)")
            for k in range(n):
                a, views = pairs_of[k % len(pairs_of)]
                self.tuples.append(((a, int(rng.choice(views))), None))
        else:
            raise ValueError(f"no tuple recipe for task {self.task!r}")

    def __len__(self) -> int:
        return len(self.tuples)

    def __getitem__(self, k: int) -> dict:
        idx, label = self.tuples[k]
        if self.task == "jigsaw":
            return self._jigsaw(idx[0], label, k)
        views = torch.stack([self.rgb(i) for i in idx])
        item = {"views": views, "index": torch.tensor(idx, dtype=torch.int64)}
        if self.task == "point_matching":
            item["y"] = torch.tensor(label, dtype=torch.int64)
            return item
        infos = [self.index.read(self.keys[i], "point_info") for i in idx]
        if self.task == "egomotion":
            a, b, c = infos
            y = np.concatenate([relative_pose_6d(a, b), relative_pose_6d(b, c), relative_pose_6d(a, c)])
        else:
            y = relative_pose_6d(infos[0], infos[1])
        item["y"] = torch.from_numpy(y.astype(np.float32))
        return item

    def _jigsaw(self, i: int, label: int, k: int) -> dict:
        rgb = self.rgb(i)
        H, W = rgb.shape[1:]
        ch, cw = H // 3, W // 3
        th, tw = max(1, int(ch * 0.85)), max(1, int(cw * 0.85))
        rng = np.random.default_rng([self.seed, k, 0x9])
        tiles = []
        for r in range(3):
            for c in range(3):
                oy, ox = int(rng.integers(ch - th + 1)), int(rng.integers(cw - tw + 1))
                tiles.append(rgb[:, r * ch + oy: r * ch + oy + th, c * cw + ox: c * cw + ox + tw])
        perm = jigsaw_permutations()[label]
        views = torch.stack([tiles[j] for j in perm])    # position p shows tile perm[p]
        return {"views": views, "index": torch.tensor([i], dtype=torch.int64),
                "y": torch.tensor(label, dtype=torch.int64)}
