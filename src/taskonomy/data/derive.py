"""Every stored domain of one view, computed from the G-buffer and the shaded RGB.

``derive_view`` returns {domain: array ready for ``encodings.write_png`` / ``np.save`` /
JSON}. The recipes follow TASKS.md / SYNTH.md: exact depth, normals and curvature from the
caster; reshading = Lambert with the light at the camera; occlusion edges = Sobel of log
depth; texture edges = Sobel of the blurred image; 2D keypoints = multi-scale Hessian
determinant; 3D keypoints = Shi-Tomasi on the normals plus occlusion corners; felzenszwalb
segments on RGB (2D) and on depth + normals + curvature (2.5D); semantics from the object
class of each primitive; layout, vanishing points and point data from the known cameras.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy import ndimage
from skimage.feature import hessian_matrix_det
from skimage.segmentation import felzenszwalb

from taskonomy.data import encodings as enc
from taskonomy.data import geometry
from taskonomy.data.render import N_ROOM, gbuffer, shade
from taskonomy.data.scene import Scene, View
from taskonomy.tasks import OBJECT_CLASSES, SCENE_CLASSES, SEMANTIC_CLASSES

# Fixed gains (not per-image normalisation) so that a target means the same in every image.
EDGE_TEXTURE_GAIN = 4.8
EDGE_OCC_GAIN = 3.0
KEYPOINT2D_SCALE = 0.35
KEYPOINT3D_SCALE = 3.5


def _sobel_mag(x):
    gx = ndimage.sobel(x, axis=1, mode="nearest")
    gy = ndimage.sobel(x, axis=0, mode="nearest")
    return np.sqrt(gx * gx + gy * gy)


def occlusion_edges(depth_e: np.ndarray, size: int) -> np.ndarray:
    """Depth discontinuities: inverse depth is affine in the image on any plane, so its
    second difference (relative to itself) is ~0 on surfaces and large across occlusions."""
    s = size / 256.0
    w = 1.0 / np.maximum(depth_e, 1e-3)
    wp = np.pad(w, 1, mode="edge")
    ex = np.abs(wp[1:-1, 2:] - 2 * w + wp[1:-1, :-2])
    ey = np.abs(wp[2:, 1:-1] - 2 * w + wp[:-2, 1:-1])
    # ... and a jump in depth itself, which a crease between two surfaces does not have
    jx = np.maximum(np.abs(wp[1:-1, 2:] - w), np.abs(w - wp[1:-1, :-2]))
    jy = np.maximum(np.abs(wp[2:, 1:-1] - w), np.abs(w - wp[:-2, 1:-1]))
    edges = (((ex > 0.04 * w) & (jx > 0.05 * w)) | ((ey > 0.04 * w) & (jy > 0.05 * w))).astype(np.float32)
    return np.clip(ndimage.gaussian_filter(edges, max(0.6, 1.0 * s)) * EDGE_OCC_GAIN, 0, 1)


def texture_edges(gray: np.ndarray, size: int) -> np.ndarray:
    s = size / 256.0
    mag = _sobel_mag(ndimage.gaussian_filter(gray, max(0.6, 1.5 * s)))
    return np.clip(mag * EDGE_TEXTURE_GAIN / 8.0, 0, 1)


def keypoints2d(gray: np.ndarray, size: int) -> np.ndarray:
    """Scale-normalised |det Hessian|, max over 4 scales. Below 128 px the image is upsampled
    to 128 px first (the box-filter Hessian needs sigma >= 1) and the response max-pooled back,
    so a target means the same at every resolution."""
    up = max(1, 128 // size)
    g = ndimage.zoom(gray, up, order=1) if up > 1 else gray
    s = g.shape[0] / 256.0
    resp = np.zeros_like(g)
    for sigma in (1.0, 2.0, 3.0, 4.0):
        sg = max(1.0, sigma * s * 2)
        resp = np.maximum(resp, np.abs(hessian_matrix_det(g, sigma=sg)) * sg ** 4)
    if up > 1:
        resp = resp.reshape(size, up, size, up).max(axis=(1, 3))
    return 1.0 - np.exp(-resp / KEYPOINT2D_SCALE)


def keypoints3d(n_cam: np.ndarray, occ: np.ndarray, size: int) -> np.ndarray:
    s = size / 256.0
    sxx = syy = sxy = 0.0
    for c in range(3):
        gx = ndimage.sobel(n_cam[..., c], axis=1, mode="nearest")
        gy = ndimage.sobel(n_cam[..., c], axis=0, mode="nearest")
        sxx, syy, sxy = sxx + gx * gx, syy + gy * gy, sxy + gx * gy
    # occlusion edges count as geometry too: their corners are 3D keypoints
    gx = ndimage.sobel(occ, axis=1, mode="nearest")
    gy = ndimage.sobel(occ, axis=0, mode="nearest")
    sxx, syy, sxy = sxx + gx * gx, syy + gy * gy, sxy + gx * gy
    sig = max(1.0, 2.0 * s)
    sxx, syy, sxy = (ndimage.gaussian_filter(a, sig) for a in (sxx, syy, sxy))
    lam_min = (sxx + syy) / 2 - np.sqrt(((sxx - syy) / 2) ** 2 + sxy ** 2)
    return 1.0 - np.exp(-np.maximum(lam_min, 0) / KEYPOINT3D_SCALE)


def _segment_factor(size: int) -> int:
    """felzenszwalb dominates the cost of a view (SYNTH.md): above 96 px it runs on a 2x
    (above 384 px 4x) downsampled image, and the labels are upsampled (nearest)."""
    return 4 if size > 384 else 2 if size > 96 else 1


def _upsample(labels: np.ndarray, f: int, size: int) -> np.ndarray:
    if f == 1:
        return labels
    return np.repeat(np.repeat(labels, f, 0), f, 1)[:size, :size]


def _down(x: np.ndarray, f: int) -> np.ndarray:
    if f == 1:
        return x
    h, w = x.shape[0] // f * f, x.shape[1] // f * f
    return x[:h, :w].reshape(h // f, f, w // f, f, *x.shape[2:]).mean(axis=(1, 3))


def segments2d(rgb: np.ndarray, size: int) -> np.ndarray:
    f = _segment_factor(size)
    s = size / f / 256.0
    seg = felzenszwalb(_down(rgb.astype(np.float64) / 255.0, f), scale=300 * s, sigma=0.8,
                       min_size=max(8, int(60 * s * s)))
    return _upsample(seg, f, size)


def segments25d(depth_e, n_cam, k1, k2, size: int) -> np.ndarray:
    f = _segment_factor(size)
    s = size / f / 256.0
    feat = np.stack([np.log(np.maximum(depth_e, 1e-3)) * 0.25, n_cam[..., 0], n_cam[..., 1], n_cam[..., 2],
                     np.tanh(k1 * 0.2), np.tanh(k2 * 0.2)], axis=-1).astype(np.float64)
    with warnings.catch_warnings():     # 6 channels are intended
        warnings.simplefilter("ignore", RuntimeWarning)
        seg = felzenszwalb(_down(feat, f), scale=200 * s, sigma=0.5, min_size=max(8, int(60 * s * s)),
                           channel_axis=-1)
    return _upsample(seg, f, size)


def class_object(sem: np.ndarray) -> np.ndarray:
    counts = np.bincount(sem.ravel(), minlength=len(SEMANTIC_CLASSES))[1:].astype(np.float64)
    if counts.sum() == 0:
        return np.full(len(OBJECT_CLASSES), 1.0 / len(OBJECT_CLASSES), np.float32)
    return (counts / counts.sum()).astype(np.float32)


def visible_points(scene: Scene, view: View, depth_z: np.ndarray, size: int) -> list[int]:
    """Other sampled points that this view sees (for non-fixated pairs)."""
    pts = np.array([p for p, _ in scene.points])
    u, v, z = geometry.project(pts, view.eye, view.R, view.fov, size, size)
    out = []
    for q in range(len(pts)):
        if q == view.point or not (z[q] > 0.1 and 0 <= u[q] < size and 0 <= v[q] < size):
            continue
        zz = depth_z[int(v[q]), int(u[q])]
        if abs(zz - z[q]) < 0.03 + 0.02 * z[q]:
            out.append(q)
    return out


def point_info(scene: Scene, view: View, size: int, visible: list[int]) -> dict:
    point, normal = scene.points[view.point]
    yaw = float(np.arctan2(view.R[1, 2], view.R[0, 2]))
    pitch = float(np.arcsin(np.clip(view.R[2, 2], -1, 1)))
    r6 = lambda a: [round(float(x), 6) for x in np.ravel(a)]  # noqa: E731
    return {
        "building": scene.building, "point": view.point, "view": view.view,
        "point_uuid": f"{scene.building}_p{view.point}", "camera_uuid": f"{scene.building}_p{view.point}_v{view.view}",
        "camera_location": r6(view.eye), "camera_rotation_matrix": [r6(row) for row in view.R],
        "camera_convention": "world z up, metres; R world-from-camera, camera x right, y down, z forward",
        "field_of_view_rads": round(view.fov, 6), "resolution": size,
        "point_location": r6(point), "point_normal": r6(normal),
        "camera_distance": round(float(np.linalg.norm(point - view.eye)), 6),
        "point_yaw": round(yaw, 6), "point_pitch": round(pitch, 6),
        "nonfixated_points_in_view": visible,
        "scene_class": SCENE_CLASSES[scene.scene_class],
        "room_lo": r6(scene.lo), "room_hi": r6(scene.hi),
        "room_layout": r6(geometry.room_layout(view.R, view.eye, scene.lo, scene.hi)),
        "vanishing_points": r6(geometry.vanishing_points(view.R)),
    }


def derive_view(scene: Scene, view: View, size: int) -> dict:
    """{domain: encoded array / dict} for every stored domain of one view."""
    gb = gbuffer(scene, view, size)
    rgb = shade(scene, view, gb)
    rgb8 = np.round(rgb * 255).astype(np.uint8)
    gray = rgb8.astype(np.float64).mean(-1) / 255.0
    depth_e, depth_z = gb["t"], gb["depth_z"]
    nodata_of_id = np.zeros(N_ROOM + len(scene.prims), bool)
    nodata_of_id[N_ROOM:] = [p.nodata for p in scene.prims]
    valid = ~nodata_of_id[gb["ids"]]          # windows: no geometry, as holes in the real scans
    n_cam = gb["n_cam"] * valid[..., None]
    k1, k2 = gb["K"][0] * valid, gb["K"][1] * valid
    cx, cy, cz = gb["C"]
    reshade = np.clip(-(n_cam[..., 0] * cx + n_cam[..., 1] * cy + n_cam[..., 2] * cz), 0, 1)
    occ = occlusion_edges(depth_e, size)
    sem_of_id = np.zeros(N_ROOM + len(scene.prims), np.uint8)
    sem_of_id[N_ROOM:] = [p.semantic for p in scene.prims]
    sem = sem_of_id[gb["ids"]]
    visible = visible_points(scene, view, depth_z, size)
    onehot = np.zeros(len(SCENE_CLASSES), np.float32)
    onehot[scene.scene_class] = 1.0
    return {
        "rgb": rgb8,
        "depth_zbuffer": enc.encode_depth(depth_z, valid),
        "depth_euclidean": enc.encode_depth(depth_e, valid),
        "normal": enc.encode_normal(n_cam),
        "reshading": np.round(reshade * 255).astype(np.uint8),
        "principal_curvature": enc.encode_curvature(k1, k2),
        "edge_texture": enc.encode_unit(texture_edges(gray, size)),
        "edge_occlusion": enc.encode_unit(occ),
        "keypoints2d": enc.encode_unit(keypoints2d(gray, size)),
        "keypoints3d": enc.encode_unit(keypoints3d(n_cam, occ, size)),
        "segment_unsup2d": segments2d(rgb8, size).astype(np.uint16),
        "segment_unsup25d": segments25d(depth_e, n_cam, k1, k2, size).astype(np.uint16),
        "segment_semantic": sem,
        "class_object": class_object(sem),
        "class_scene": onehot,
        "room_layout": geometry.room_layout(view.R, view.eye, scene.lo, scene.hi).astype(np.float32),
        "vanishing_point": geometry.vanishing_points(view.R).astype(np.float32),
        "point_info": point_info(scene, view, size, visible),
    }
