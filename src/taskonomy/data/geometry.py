"""Camera geometry shared by the generator, the loader and the tests.

Conventions (documented in point_info JSON): world z is up, metres. A camera is its centre
``eye`` and a rotation ``R`` (world-from-camera, columns = camera axes in the world) in the
OpenCV convention: camera x right, y down, z forward. Pixel (i, j) has its centre at
(u, v) = (j + 0.5, i + 0.5); the principal point is the image centre, so a fixated point
projects to (W/2, H/2). Relative poses are 4x4 transforms ``T_ab`` = pose of camera b in the
frame of camera a; they compose as ``T_ac = T_ab @ T_bc``; the 6-d pose vector is
(rotation vector, translation).
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

# Maps canonical "level camera" coordinates (x right, y down, z forward) to world (z up)
# for a camera looking along +y: the reference of room layout and vanishing points.
LEVEL = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def look_at(eye, target, roll: float = 0.0) -> np.ndarray:
    """World-from-camera rotation of a camera at ``eye`` looking at ``target``, rolled by ``roll``."""
    eye, target = np.asarray(eye, float), np.asarray(target, float)
    z = target - eye
    z /= np.linalg.norm(z)
    up = np.array([0.0, 0.0, 1.0])
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-6:            # looking straight up/down: any horizontal x
        x = np.array([1.0, 0.0, 0.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z], axis=1)
    if roll:
        c, s = np.cos(roll), np.sin(roll)
        R = R @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return R


def focal(fov: float, width: int) -> float:
    """Focal length in pixels for a horizontal field of view ``fov`` (radians)."""
    return (width / 2.0) / np.tan(fov / 2.0)


def camera_rays(fov: float, height: int, width: int):
    """Unit ray directions in the camera frame, three (H, W) float64 arrays."""
    f = focal(fov, width)
    u = (np.arange(width) + 0.5 - width / 2.0) / f
    v = (np.arange(height) + 0.5 - height / 2.0) / f
    x, y = np.meshgrid(u, v)
    inv = 1.0 / np.sqrt(x * x + y * y + 1.0)
    return x * inv, y * inv, inv


def project(points, eye, R, fov: float, height: int, width: int):
    """Pixel coordinates (u, v) and camera-frame depth z of world points (N, 3)."""
    pc = (np.atleast_2d(points) - np.asarray(eye)) @ np.asarray(R)   # rows: R^T (p - eye)
    f = focal(fov, width)
    z = pc[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = width / 2.0 + f * pc[:, 0] / z
        v = height / 2.0 + f * pc[:, 1] / z
    return u, v, z


def pose_matrix(R, eye) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = eye
    return T


def relative_pose(Ra, eye_a, Rb, eye_b) -> np.ndarray:
    """4x4 pose of camera b expressed in the frame of camera a."""
    return np.linalg.inv(pose_matrix(Ra, eye_a)) @ pose_matrix(Rb, eye_b)


def pose_vector(T) -> np.ndarray:
    """6-d (rotation vector in radians, translation in metres) of a 4x4 transform."""
    T = np.asarray(T)
    return np.concatenate([Rotation.from_matrix(T[:3, :3]).as_rotvec(), T[:3, 3]])


def pose_from_vector(vec) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec(np.asarray(vec[:3], float)).as_matrix()
    T[:3, 3] = vec[3:6]
    return T


def _rz(k: int) -> np.ndarray:
    c, s = np.cos(k * np.pi / 2), np.sin(k * np.pi / 2)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]).round(12)


def canonical_room_rotation(R) -> tuple[np.ndarray, int]:
    """Room axes in the camera frame, canonical over the room's 4 yaw symmetries.

    Returns (M, k): M = R^T Rz(k*90deg) LEVEL (camera-from-canonical-room), with k chosen so
    that M is the rotation closest to the identity (largest trace).
    """
    R = np.asarray(R)
    best = max(range(4), key=lambda k: (np.trace(R.T @ _rz(k) @ LEVEL), -k))
    return R.T @ _rz(best) @ LEVEL, best


def room_layout(R, eye, room_lo, room_hi) -> np.ndarray:
    """9-d layout: rotation vector of the canonical room frame, room centre and size, camera frame."""
    M, k = canonical_room_rotation(R)
    lo, hi = np.asarray(room_lo, float), np.asarray(room_hi, float)
    centre = np.asarray(R).T @ ((lo + hi) / 2.0 - np.asarray(eye, float))
    ext = hi - lo
    # canonical axes: (level-camera x, vertical, level-camera z) = world (x, z, y) rotated by k
    horiz = (ext[0], ext[1]) if k % 2 == 0 else (ext[1], ext[0])
    size = np.array([horiz[0], ext[2], horiz[1]])
    return np.concatenate([Rotation.from_matrix(M).as_rotvec(), centre, size])


def vanishing_points(R) -> np.ndarray:
    """9-d: the three Manhattan directions (unit, camera frame) in the canonical order of
    ``room_layout``, each signed to point in front of the camera (z >= 0)."""
    M, _ = canonical_room_rotation(R)
    cols = []
    for i in range(3):
        v = M[:, i].copy()
        if v[2] < 0 or (v[2] == 0 and v[1] < 0):
            v = -v
        cols.append(v)
    return np.concatenate(cols)
