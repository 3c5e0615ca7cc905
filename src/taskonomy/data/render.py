"""Analytic numpy ray caster: one ray per pixel against the primitives of a ``Scene``.

Returns a G-buffer (ray distance, primitive id, hit point, exact normal, exact principal
curvatures) and a shaded RGB (procedural materials, 1-3 coloured point lights, ambient,
Blinn-Phong highlights, soft shadows at half resolution). Speed matters (SYNTH.md): arithmetic is per component
(no reductions over a length-3 axis) and each primitive is tested only inside the screen
rectangle of its projected bounding box.

Ids: 0-5 are the room's parts (``scene.ROOM_PARTS``), 6 + k is ``scene.prims[k]``.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from taskonomy.data import geometry
from taskonomy.data.materials import MATERIALS, albedo
from taskonomy.data.scene import Scene, View

EPS = 1e-4
N_ROOM = 6
INF = np.inf


# ---------------------------------------------------------------- intersections
def _room_exit(scene, o, dx, dy, dz):
    """Exit distance from the inside of the room box and the part id hit."""
    lo, hi = scene.lo, scene.hi
    with np.errstate(divide="ignore", invalid="ignore"):
        tx = np.where(dx > 0, hi[0] - o[0], lo[0] - o[0]) / dx
        ty = np.where(dy > 0, hi[1] - o[1], lo[1] - o[1]) / dy
        tz = np.where(dz > 0, hi[2] - o[2], lo[2] - o[2]) / dz
    tx = np.where(np.isfinite(tx) & (tx > 0), tx, INF)
    ty = np.where(np.isfinite(ty) & (ty > 0), ty, INF)
    tz = np.where(np.isfinite(tz) & (tz > 0), tz, INF)
    t = np.minimum(np.minimum(tx, ty), tz)
    part = np.where(tz <= np.minimum(tx, ty), np.where(dz < 0, 0, 1),
                    np.where(tx <= ty, np.where(dx < 0, 2, 3), np.where(dy < 0, 4, 5)))
    return t, part


def _slab(o, c, h, dx, dy, dz):
    """Entry distance into the axis-aligned box centre c, half extents h (inf = miss)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ix, iy, iz = 1.0 / dx, 1.0 / dy, 1.0 / dz
        a = (c[0] - h[0] - o[0]) * ix
        b = (c[0] + h[0] - o[0]) * ix
        tmin, tmax = np.minimum(a, b), np.maximum(a, b)
        a = (c[1] - h[1] - o[1]) * iy
        b = (c[1] + h[1] - o[1]) * iy
        tmin, tmax = np.maximum(tmin, np.minimum(a, b)), np.minimum(tmax, np.maximum(a, b))
        a = (c[2] - h[2] - o[2]) * iz
        b = (c[2] + h[2] - o[2]) * iz
        tmin, tmax = np.maximum(tmin, np.minimum(a, b)), np.minimum(tmax, np.maximum(a, b))
    return np.where((tmax >= tmin) & (tmin > EPS), tmin, INF)


def intersect(p, o, dx, dy, dz):
    if p.kind == "box":
        if p.yaw:
            c, s = np.cos(p.yaw), np.sin(p.yaw)
            # ray in the box frame (rotate by -yaw about the box centre)
            rx, ry = o[0] - p.center[0], o[1] - p.center[1]
            ol = (c * rx + s * ry, -s * rx + c * ry, o[2])
            return _slab(ol, (0.0, 0.0, p.center[2]), p.half, c * dx + s * dy, -s * dx + c * dy, dz)
        return _slab(o, p.center, p.half, dx, dy, dz)
    if p.kind == "sphere":
        ox, oy, oz = o[0] - p.center[0], o[1] - p.center[1], o[2] - p.center[2]
        b = ox * dx + oy * dy + oz * dz
        disc = b * b - (ox * ox + oy * oy + oz * oz - p.half[0] ** 2)
        with np.errstate(invalid="ignore"):
            t = -b - np.sqrt(disc)
        return np.where((disc >= 0) & (t > EPS), t, INF)
    if p.kind == "cylinder":
        r, hz = p.half[0], p.half[2]
        z0, z1 = p.center[2] - hz, p.center[2] + hz
        ox, oy = o[0] - p.center[0], o[1] - p.center[1]
        a = dx * dx + dy * dy
        b = ox * dx + oy * dy
        disc = b * b - a * (ox * ox + oy * oy - r * r)
        with np.errstate(invalid="ignore", divide="ignore"):
            t = (-b - np.sqrt(disc)) / a
            z = o[2] + t * dz
            t = np.where((disc >= 0) & (t > EPS) & (z >= z0) & (z <= z1), t, INF)
            if o[2] > z1 or o[2] < z0:                    # one cap can face the camera
                zc = z1 if o[2] > z1 else z0
                tc = (zc - o[2]) / dz
                cx, cy = ox + tc * dx, oy + tc * dy
                tc = np.where((tc > EPS) & (cx * cx + cy * cy <= r * r), tc, INF)
                t = np.minimum(t, tc)
        return t
    if p.kind == "plane":
        ax = p.axis
        d = (dx, dy, dz)
        with np.errstate(invalid="ignore", divide="ignore"):
            t = (p.center[ax] - o[ax]) / d[ax]
            ok = t > EPS
            for k in range(3):
                if k != ax:
                    q = o[k] + t * d[k] - p.center[k]
                    ok &= np.abs(q) <= p.half[k]
        return np.where(ok, t, INF)
    raise ValueError(f"unknown primitive kind {p.kind!r}")


def normals_and_curvature(p, px, py, pz, dx, dy, dz):
    """World normals (facing the ray) and principal curvatures k1 >= k2 (convex < 0)."""
    z = np.zeros_like(px)
    if p.kind == "sphere":
        r = p.half[0]
        k = np.full_like(px, -1.0 / r)
        return (px - p.center[0]) / r, (py - p.center[1]) / r, (pz - p.center[2]) / r, k, k.copy()
    if p.kind == "cylinder":
        r, hz = p.half[0], p.half[2]
        qx, qy = (px - p.center[0]) / r, (py - p.center[1]) / r
        cap = np.abs(np.abs(pz - p.center[2]) - hz) < 1e-6 * max(1.0, hz) + 1e-7
        cap &= (qx * qx + qy * qy) < 1 - 1e-6
        nz = np.where(cap, np.sign(pz - p.center[2]), 0.0)
        return (np.where(cap, 0.0, qx), np.where(cap, 0.0, qy), nz, z.copy(),
                np.where(cap, 0.0, -1.0 / r))
    if p.kind == "box":
        c, s = np.cos(p.yaw), np.sin(p.yaw)
        rx, ry = px - p.center[0], py - p.center[1]
        lx, ly, lz = (c * rx + s * ry) / p.half[0], (-s * rx + c * ry) / p.half[1], (pz - p.center[2]) / p.half[2]
        ax, ay, az = np.abs(lx), np.abs(ly), np.abs(lz)
        fx = (ax >= ay) & (ax >= az)
        fy = ~fx & (ay >= az)
        fz = ~fx & ~fy
        nlx, nly, nlz = np.where(fx, np.sign(lx), 0.0), np.where(fy, np.sign(ly), 0.0), np.where(fz, np.sign(lz), 0.0)
        return c * nlx - s * nly, s * nlx + c * nly, nlz, z.copy(), z.copy()
    if p.kind == "plane":
        d = (dx, dy, dz)[p.axis]
        sgn = np.where(d > 0, -1.0, 1.0)
        n = [z, z.copy(), z.copy()]
        n[p.axis] = sgn
        return n[0], n[1], n[2], z.copy(), z.copy()
    raise ValueError(p.kind)


ROOM_NORMALS = ((0, 0, 1), (0, 0, -1), (1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0))


# ---------------------------------------------------------------- casting
def _screen_rect(p, view: View, H: int, W: int):
    """Pixel rectangle (i0, i1, j0, j1) covering the projected bounding box, or full screen."""
    u, v, z = geometry.project(p.corners(), view.eye, view.R, view.fov, H, W)
    if np.any(z <= 0.05):
        return 0, H, 0, W
    j0, j1 = int(np.floor(u.min())) - 1, int(np.ceil(u.max())) + 1
    i0, i1 = int(np.floor(v.min())) - 1, int(np.ceil(v.max())) + 1
    return max(i0, 0), min(i1, H), max(j0, 0), min(j1, W)


def cast(scene: Scene, eye, dx, dy, dz, view: View | None = None):
    """Nearest hit distance and id per ray; ``view`` enables screen-space culling ((H, W) rays)."""
    o = tuple(float(v) for v in eye)
    t, ids = _room_exit(scene, o, dx, dy, dz)
    ids = ids.astype(np.int16)
    for k, p in enumerate(scene.prims):
        if view is not None:
            i0, i1, j0, j1 = _screen_rect(p, view, *dx.shape)
            if i0 >= i1 or j0 >= j1:
                continue
            s = (slice(i0, i1), slice(j0, j1))
            tp = intersect(p, o, dx[s], dy[s], dz[s])
            tb, ib = t[s], ids[s]
        else:
            tp = intersect(p, o, dx, dy, dz)
            tb, ib = t, ids
        m = tp < tb
        tb[m] = tp[m]
        ib[m] = N_ROOM + k
    return t, ids


def cast_cone(scene: Scene, origin, dx, dy, dz):
    """Like ``cast`` for flat arrays of rays from one point (shadow rays): each primitive is
    tested only on the rays inside the cone of its bounding sphere."""
    o = tuple(float(v) for v in origin)
    t, _ = _room_exit(scene, o, dx, dy, dz)
    for p in scene.prims:
        c = p.corners()
        centre = (c.min(0) + c.max(0)) / 2
        rad = np.linalg.norm(c.max(0) - centre)
        v = centre - np.asarray(o)
        dist = np.linalg.norm(v)
        if dist <= rad:
            idx = slice(None)
        else:
            v /= dist
            cos_max = np.sqrt(max(0.0, 1 - (rad / dist) ** 2))
            idx = np.flatnonzero(dx * v[0] + dy * v[1] + dz * v[2] >= cos_max)
            if idx.size == 0:
                continue
        tp = intersect(p, o, dx[idx], dy[idx], dz[idx])
        t[idx] = np.minimum(t[idx], tp)
    return t


def surface(scene: Scene, eye, t, ids, dx, dy, dz):
    """Hit points, world normals and curvatures for a cast."""
    px, py, pz = eye[0] + t * dx, eye[1] + t * dy, eye[2] + t * dz
    nx, ny, nz = np.zeros_like(t), np.zeros_like(t), np.zeros_like(t)
    k1, k2 = np.zeros_like(t), np.zeros_like(t)
    for part, n in enumerate(ROOM_NORMALS):
        m = ids == part
        nx[m], ny[m], nz[m] = n
    for k in np.unique(ids[ids >= N_ROOM]):
        p = scene.prims[int(k) - N_ROOM]
        m = ids == k
        a, b, c, u, w = normals_and_curvature(p, px[m], py[m], pz[m], dx[m], dy[m], dz[m])
        nx[m], ny[m], nz[m], k1[m], k2[m] = a, b, c, u, w
    return (px, py, pz), (nx, ny, nz), (k1, k2)


def cast_rays(scene: Scene, eye, dirs):
    """Single rays (N, 3) from one eye: distance, id, world normal (N, 3). Used by planning."""
    dirs = np.asarray(dirs, float)
    dx, dy, dz = dirs[:, 0].copy(), dirs[:, 1].copy(), dirs[:, 2].copy()
    t, ids = cast(scene, eye, dx, dy, dz)
    _, n, _ = surface(scene, eye, t, ids, dx, dy, dz)
    return t, ids, np.stack(n, axis=1)


def gbuffer(scene: Scene, view: View, size: int) -> dict:
    """Everything geometric about one view at ``size`` x ``size`` pixels."""
    H = W = size
    cx, cy, cz = geometry.camera_rays(view.fov, H, W)
    R = view.R
    dx = R[0, 0] * cx + R[0, 1] * cy + R[0, 2] * cz
    dy = R[1, 0] * cx + R[1, 1] * cy + R[1, 2] * cz
    dz = R[2, 0] * cx + R[2, 1] * cy + R[2, 2] * cz
    t, ids = cast(scene, view.eye, dx, dy, dz, view=view)
    P, N, K = surface(scene, view.eye, t, ids, dx, dy, dz)
    # camera-frame normals: R^T n
    ncx = R[0, 0] * N[0] + R[1, 0] * N[1] + R[2, 0] * N[2]
    ncy = R[0, 1] * N[0] + R[1, 1] * N[1] + R[2, 1] * N[2]
    ncz = R[0, 2] * N[0] + R[1, 2] * N[1] + R[2, 2] * N[2]
    return dict(t=t, ids=ids, P=P, N=N, K=K, D=(dx, dy, dz), C=(cx, cy, cz),
                depth_z=t * cz, n_cam=np.stack([ncx, ncy, ncz], axis=-1))


def shadow(scene: Scene, light, px, py, pz, step: int = 2) -> np.ndarray:
    """Soft shadow mask in [0, 1] of one point light: rays from the light to every
    ``step``-th hit point (one origin, so the same caster), upsampled and blurred. Half
    resolution keeps the cost at a few ms; the blur doubles as a penumbra."""
    sub = px[::step, ::step].shape
    sx, sy, sz = (a[::step, ::step].ravel() - light[i] for i, a in enumerate((px, py, pz)))
    dist = np.sqrt(sx * sx + sy * sy + sz * sz)
    inv = 1.0 / np.maximum(dist, 1e-9)
    t = cast_cone(scene, light, sx * inv, sy * inv, sz * inv)
    occ = (t < dist * (1 - 1e-3) - 0.02).astype(np.float32).reshape(sub)
    occ = np.repeat(np.repeat(occ, step, 0), step, 1)[: px.shape[0], : px.shape[1]]
    return ndimage.gaussian_filter(occ, 0.7 * step)


def shade(scene: Scene, view: View, gb: dict) -> np.ndarray:
    """Linear-light RGB (H, W, 3) -> tone-mapped sRGB-ish float in [0, 1]."""
    ids, (px, py, pz), (nx, ny, nz) = gb["ids"], gb["P"], gb["N"]
    dx, dy, dz = gb["D"]
    H, W = ids.shape
    alb = [np.zeros((H, W)) for _ in range(3)]
    spec_w = np.zeros((H, W))
    emit = np.zeros((H, W), bool)
    shin = np.ones((H, W))
    groups = {}
    for part in range(N_ROOM):
        mat, tint, sc, seed = scene.room_materials[part]
        groups[part] = (mat, tint, sc, seed)
    for k in np.unique(ids[ids >= N_ROOM]):
        p = scene.prims[int(k) - N_ROOM]
        groups[int(k)] = (p.material, p.tint, p.tex_scale, p.tex_seed)
    for k, (mat_id, tint, sc, seed) in groups.items():
        m = ids == k
        if not m.any():
            continue
        mat = MATERIALS[mat_id]
        a = albedo(mat, px[m], py[m], pz[m], nx[m], ny[m], nz[m], tint, sc, seed % 65536)
        for i in range(3):
            alb[i][m] = a[i]
        spec_w[m], shin[m] = mat.specular, mat.shininess
        if mat.emissive:
            emit[m] = True
    light = [np.full((H, W), scene.ambient[i]) for i in range(3)]
    spec = [np.zeros((H, W)) for _ in range(3)]
    for L in scene.lights:
        vis = 1.0 - 0.8 * shadow(scene, L.pos, px, py, pz)
        lx, ly, lz = L.pos[0] - px, L.pos[1] - py, L.pos[2] - pz
        d2 = lx * lx + ly * ly + lz * lz
        inv = 1.0 / np.sqrt(d2)
        lx, ly, lz = lx * inv, ly * inv, lz * inv
        lam = np.maximum(nx * lx + ny * ly + nz * lz, 0.0) * vis
        att = 1.0 / (0.3 + 0.12 * d2)
        hx, hy, hz = lx - dx, ly - dy, lz - dz
        hn = 1.0 / np.sqrt(hx * hx + hy * hy + hz * hz + 1e-12)
        sp = np.maximum((nx * hx + ny * hy + nz * hz) * hn, 0.0) ** shin * spec_w * (lam > 0) * att
        for i in range(3):
            light[i] += L.color[i] * lam * att
            spec[i] += L.color[i] * sp
    rgb = np.stack([np.where(emit, alb[i] * 1.6, alb[i] * light[i] + spec[i]) for i in range(3)], axis=-1)
    rgb = 1.0 - np.exp(-1.3 * rgb)                    # soft tone mapping
    return np.clip(rgb, 0.0, 1.0) ** (1 / 2.2)
