"""Contact sheet: every stored domain of a few views, colour-mapped, in one PNG.

    taskonomy data sheet data/synth --out sheet.png --views 4

Rows are views, columns domains: depth as a turbo map of log depth, curvature as k1/k2
in a diverging map, segment ids in random colours, semantic classes in a fixed palette;
low-dim domains (class_scene, class_object, layout, vanishing points) are drawn as a text
column and the vanishing points as lines from the image centre on the RGB.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from taskonomy.data import encodings as enc  # noqa: E402
from taskonomy.data.dataset import DatasetIndex  # noqa: E402
from taskonomy.tasks import OBJECT_CLASSES, SCENE_CLASSES, SEMANTIC_CLASSES  # noqa: E402

PIXEL_DOMAINS = ("rgb", "depth_zbuffer", "depth_euclidean", "normal", "reshading", "principal_curvature",
                 "edge_texture", "edge_occlusion", "keypoints2d", "keypoints3d", "segment_unsup2d",
                 "segment_unsup25d", "segment_semantic")


def _ids_to_colors(ids: np.ndarray, seed: int = 3) -> np.ndarray:
    pal = np.random.default_rng(seed).uniform(0.15, 1.0, (int(ids.max()) + 1, 3))
    return pal[ids]


def colorize(domain: str, raw) -> np.ndarray:
    """(H, W, 3) float image in [0, 1] for one decoded file."""
    a = np.asarray(raw)
    if domain == "rgb":
        return a[..., :3] / 255.0
    if domain in ("depth_zbuffer", "depth_euclidean"):
        d, valid = enc.decode_depth(a)
        ld = np.log(np.maximum(d, 1e-3))
        lo, hi = (np.percentile(ld[valid], [1, 99]) if valid.any() else (0, 1))
        img = plt.get_cmap("turbo")(np.clip((ld - lo) / max(hi - lo, 1e-6), 0, 1))[..., :3]
        img[~valid] = 0
        return img
    if domain == "normal":
        return a[..., :3] / 255.0
    if domain == "principal_curvature":
        k = enc.decode_curvature(a)
        img = np.zeros(a.shape[:2] + (3,))
        img[..., 0] = np.clip(0.5 - k[..., 1] / 12, 0, 1)    # strongly convex (k2 << 0) -> red
        img[..., 2] = np.clip(0.5 + k[..., 0] / 12, 0, 1)
        img[..., 1] = 0.5 - 0.5 * np.clip(np.abs(k).sum(-1) / 12, 0, 1)
        return img
    if domain == "reshading":
        return np.repeat(a[..., None] / 255.0, 3, -1)
    if domain in ("edge_texture", "edge_occlusion", "keypoints2d", "keypoints3d"):
        x = a.astype(np.float64) / 65535.0
        cmap = "magma" if domain.startswith("key") else "gray"
        return plt.get_cmap(cmap)(np.clip(x, 0, 1))[..., :3]
    if domain in ("segment_unsup2d", "segment_unsup25d"):
        return _ids_to_colors(a.astype(np.int64))
    if domain == "segment_semantic":
        pal = plt.get_cmap("tab20")(np.arange(len(SEMANTIC_CLASSES)) % 20)[:, :3]
        pal[0] = 0.1
        return pal[a.astype(np.int64)]
    raise KeyError(domain)


def _text(index, key) -> str:
    vocab = index.vocabulary
    scene = enc.decode_class_scene(index.read(key, "class_scene"), vocab)
    obj = enc.decode_class_object(index.read(key, "class_object"), vocab)
    top = np.argsort(obj)[::-1][:3]
    info = index.read(key, "point_info")
    if vocab is enc.SYNTHETIC:
        scene_name, obj_name = SCENE_CLASSES[int(np.argmax(scene))], OBJECT_CLASSES.__getitem__
    else:     # the release's classes by number: Places365 position, ImageNet class
        scene_name = f"Places365 #{vocab.scene_keep[int(np.argmax(scene))]}"
        obj_name = "ImageNet #{}".format
    lines = [f"{key.building} p{key.point} v{key.view}", f"scene: {scene_name}",
             "objects:"] + [f" {obj_name(i)} {obj[i]:.2f}" for i in top if obj[i] > 0]
    lines += [f"fov {info['field_of_view_rads']:.2f} dist {info.get('camera_distance', 0):.2f}",
              f"sees points {info.get('nonfixated_points_in_view', [])[:6]}"]
    return "\n".join(lines)


def make_sheet(root, out, n_views: int = 4, seed: int = 0, dpi: int = 110) -> Path:
    index = DatasetIndex(root)
    rng = np.random.default_rng(seed)
    by_building: dict = {}
    for k in index.keys:
        by_building.setdefault(k.building, []).append(k)
    # one building per scene class first (when the manifest says which is which)
    classes = (index.manifest or {}).get("building_scene_class", {})
    order, seen = [], set()
    for b in by_building:
        if classes.get(b) not in seen:
            order.append(b)
            seen.add(classes.get(b))
    order += [b for b in by_building if b not in order]
    picks = []
    for i in range(n_views):
        cands = by_building[order[i % len(order)]]
        cands = [cands[j] for j in rng.permutation(len(cands))[:12]]
        if "segment_semantic" in index.domains:     # the view with the most object classes
            cands.sort(key=lambda k: -len(np.unique(index.read(k, "segment_semantic"))))
        picks.append(cands[0])
    domains = [d for d in PIXEL_DOMAINS if d in index.domains]
    has_low = all(d in index.domains for d in ("class_scene", "class_object", "point_info"))
    ncol = len(domains) + (1 if has_low else 0)
    fig, axes = plt.subplots(n_views, ncol, figsize=(1.25 * ncol, 1.35 * n_views), squeeze=False)
    for r, key in enumerate(picks):
        for c, d in enumerate(domains):
            ax = axes[r][c]
            img = colorize(d, index.read(key, d))
            ax.imshow(img, interpolation="nearest")
            if d == "rgb" and "vanishing_point" in index.domains:
                vp = np.asarray(index.read(key, "vanishing_point")).reshape(3, 3)
                h, w = img.shape[:2]
                for v, col in zip(vp, ("r", "lime", "cyan")):
                    ax.plot([w / 2, w / 2 + v[0] * w * 0.4], [h / 2, h / 2 + v[1] * h * 0.4], col, lw=0.8)
            if r == 0:
                ax.set_title(d.replace("_", "\n", 1), fontsize=5)
            ax.axis("off")
        if has_low:
            ax = axes[r][-1]
            ax.axis("off")
            ax.text(0, 0.5, _text(index, key), fontsize=3.6, va="center", family="monospace")
    fig.subplots_adjust(left=0.005, right=0.995, top=0.95, bottom=0.005, wspace=0.04, hspace=0.06)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    from taskonomy.io import atomic_path
    import io

    from PIL import Image
    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, format="png")
    plt.close(fig)
    buf.seek(0)
    with Image.open(buf) as img, atomic_path(out) as tmp:
        # a 256-colour palette keeps a sheet small enough to commit (colour maps survive it)
        img.convert("RGB").quantize(256, dither=Image.Dither.NONE).save(tmp, format="PNG", optimize=True)
    return out
