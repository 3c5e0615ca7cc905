"""Any domain's prediction (training scale, C x H x W) as an 8-bit H x W x 3 image.

Fixed ranges where the domain has one (normals, reshading, edges, curvature), so two models'
outputs compare by eye; depth is min-max scaled per image (viridis); energy maps use a fixed
z-score range (magma) so that brighter means less consistent across images.
"""
from __future__ import annotations

import numpy as np
import torch

from taskonomy.tasks import CLASSES, EMBEDDING, TASKS

ENERGY_RANGE = (-1.0, 3.0)


def _cmap(name, v):
    import matplotlib
    return (matplotlib.colormaps[name](np.clip(v, 0, 1))[..., :3] * 255).astype(np.uint8)


def _minmax(v):
    lo, hi = float(np.min(v)), float(np.max(v))
    return (v - lo) / (hi - lo) if hi > lo else np.zeros_like(v)


def to_image(domain: str, x: torch.Tensor) -> np.ndarray:
    x = x.detach().float().cpu()
    if domain == "energy":
        v = x.numpy().reshape(x.shape[-2:])
        return _cmap("magma", (v - ENERGY_RANGE[0]) / (ENERGY_RANGE[1] - ENERGY_RANGE[0]))
    t = TASKS.get(domain)
    if domain == "rgb" or domain in ("autoencoding", "denoising", "inpainting"):
        return ((x.permute(1, 2, 0).numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8)
    if t is not None and t.kind == CLASSES:
        return _cmap("tab20", x.argmax(0).numpy() / 19.0)
    if t is not None and t.kind == EMBEDDING:
        c = x.flatten(1).T.numpy()
        c = c - c.mean(0)
        _, _, vt = np.linalg.svd(c, full_matrices=False)
        v = (c @ vt[:3].T).reshape(*x.shape[-2:], 3)
        return (np.stack([_minmax(v[..., i]) for i in range(3)], -1) * 255).astype(np.uint8)
    a = x.numpy()
    if domain == "normal":
        return ((a.transpose(1, 2, 0) + 1) * 127.5).clip(0, 255).astype(np.uint8)
    if domain in ("principal_curvature", "colorization"):
        rg = ((a[:2].transpose(1, 2, 0) + 1) * 127.5).clip(0, 255)
        return np.concatenate([rg, np.full((*rg.shape[:2], 1), 127.5)], -1).astype(np.uint8)
    if domain in ("depth_zbuffer", "depth_euclidean"):
        return _cmap("viridis", _minmax(a[0]))
    if a.shape[0] == 1:                  # reshading, edges, keypoints: [0, 1]
        return np.repeat((a[0].clip(0, 1) * 255).astype(np.uint8)[..., None], 3, -1)
    if a.shape[0] == 3:
        return (np.stack([_minmax(a[i]) for i in range(3)], -1) * 255).astype(np.uint8)
    return np.repeat((_minmax(a[0]) * 255).astype(np.uint8)[..., None], 3, -1)
