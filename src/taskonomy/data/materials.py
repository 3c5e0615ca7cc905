"""Procedural 3D materials: albedo as a function of the world position of a surface point.

Solid textures need no UV mapping, so every primitive kind is textured the same way. Each
material mixes two colours by a pattern in [0, 1] (value-noise fBm, rings, veins, tiles,
bricks, weave...); every pattern has visible variation (no flat surfaces). ``shade`` in
``render`` adds lights and a specular term from ``Material.specular``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


_U = np.uint32


def _hash(ix, iy, iz, seed: int):
    """Deterministic pseudo-random value in [0, 1) per integer lattice point (uint32
    arithmetic wraps modulo 2**32, which is the hash; half the memory traffic of int64)."""
    ix, iy, iz = (a.astype(_U, copy=False) for a in (ix, iy, iz))
    h = (ix * _U(73856093)) ^ (iy * _U(19349663)) ^ (iz * _U(83492791)) ^ _U((seed * 2654435761) & 0xFFFFFFFF)
    h ^= h >> _U(13)
    h *= _U(1274126177)
    h ^= h >> _U(16)
    return (h & _U(0xFFFF)).astype(np.float32) * np.float32(1.0 / 65536.0)


def value_noise(x, y, z, seed: int = 0):
    """Smooth 3D value noise in [0, 1]."""
    fx, fy, fz = np.floor(x), np.floor(y), np.floor(z)
    # int64 first: negative coordinates wrap into uint32 instead of saturating
    ix, iy, iz = (f.astype(np.int64).astype(_U) for f in (fx, fy, fz))
    tx, ty, tz = x - fx, y - fy, z - fz
    tx = tx * tx * (3 - 2 * tx)
    ty = ty * ty * (3 - 2 * ty)
    tz = tz * tz * (3 - 2 * tz)
    one = _U(1)
    xs, ys, zs = (ix, ix + one), (iy, iy + one), (iz, iz + one)
    c = [[[_hash(a, b, cc, seed) for cc in zs] for b in ys] for a in xs]
    x00 = c[0][0][0] + (c[1][0][0] - c[0][0][0]) * tx
    x10 = c[0][1][0] + (c[1][1][0] - c[0][1][0]) * tx
    x01 = c[0][0][1] + (c[1][0][1] - c[0][0][1]) * tx
    x11 = c[0][1][1] + (c[1][1][1] - c[0][1][1]) * tx
    y0 = x00 + (x10 - x00) * ty
    y1 = x01 + (x11 - x01) * ty
    return y0 + (y1 - y0) * tz


def fbm(x, y, z, octaves: int = 3, seed: int = 0):
    total, amp, norm, f = 0.0, 1.0, 0.0, 1.0
    for o in range(octaves):
        total = total + amp * value_noise(x * f, y * f, z * f, seed + 17 * o)
        norm += amp
        amp *= 0.5
        f *= 2.03
    return total / norm


def _plane_uv(x, y, z, nx, ny, nz):
    """Two in-surface coordinates: drop the world axis closest to the normal."""
    ax, ay, az = np.abs(nx), np.abs(ny), np.abs(nz)
    drop_z = (az >= ax) & (az >= ay)
    drop_x = (ax > ay) & ~drop_z
    u = np.where(drop_x, y, x)
    v = np.where(drop_z, y, z)
    return u, v


# ---------------------------------------------------------------- patterns -> [0, 1]
def p_plaster(x, y, z, nx, ny, nz, s, seed):
    return 0.55 * fbm(x * 4 * s, y * 4 * s, z * 4 * s, 3, seed) + 0.45 * value_noise(x * 40, y * 40, z * 40, seed + 5)


def p_wood(x, y, z, nx, ny, nz, s, seed):
    n = fbm(x * 2, y * 2, z * 8, 2, seed)
    r = np.sqrt((x * 3 * s) ** 2 + (y * 0.7 * s) ** 2) * 6 + 4 * n
    ring = (r - np.floor(r))
    return 0.65 * ring ** 2 + 0.35 * value_noise(x * 30, y * 4, z * 60, seed + 3)


def p_tiles(x, y, z, nx, ny, nz, s, seed):
    u, v = _plane_uv(x, y, z, nx, ny, nz)
    u, v = u * 3.3 * s, v * 3.3 * s
    fu, fv = u - np.floor(u), v - np.floor(v)
    grout = (np.minimum(np.minimum(fu, 1 - fu), np.minimum(fv, 1 - fv)) < 0.04)
    tile = _hash(np.floor(u).astype(np.int64), np.floor(v).astype(np.int64), np.zeros_like(u, np.int64), seed)
    return np.where(grout, 1.0, 0.25 * tile + 0.25 * fbm(x * 8, y * 8, z * 8, 2, seed))


def p_fabric(x, y, z, nx, ny, nz, s, seed):
    u, v = _plane_uv(x, y, z, nx, ny, nz)
    weave = 0.5 + 0.5 * np.sin(u * 220 * s) * np.sin(v * 220 * s)
    return 0.35 * weave + 0.65 * fbm(x * 6, y * 6, z * 6, 3, seed)


def p_carpet(x, y, z, nx, ny, nz, s, seed):
    return 0.5 * value_noise(x * 90, y * 90, z * 90, seed) + 0.5 * fbm(x * 5 * s, y * 5 * s, z * 5 * s, 2, seed + 1)


def p_marble(x, y, z, nx, ny, nz, s, seed):
    t = fbm(x * 3 * s, y * 3 * s, z * 3 * s, 4, seed)
    return np.abs(np.sin((x + y) * 5 * s + 9 * t)) ** 0.4


def p_metal(x, y, z, nx, ny, nz, s, seed):
    return 0.6 * value_noise(x * 2, y * 2, z * 160, seed) + 0.4 * fbm(x * 3, y * 3, z * 3, 2, seed + 2)


def p_plastic(x, y, z, nx, ny, nz, s, seed):
    spots = value_noise(x * 25 * s, y * 25 * s, z * 25 * s, seed)
    return 0.6 * fbm(x * 3, y * 3, z * 3, 2, seed + 1) + 0.4 * (spots > 0.8)


def p_leather(x, y, z, nx, ny, nz, s, seed):
    n = value_noise(x * 30 * s, y * 30 * s, z * 30 * s, seed)
    return 0.7 * np.abs(2 * n - 1) ** 0.5 + 0.3 * fbm(x * 4, y * 4, z * 4, 2, seed + 1)


def p_foliage(x, y, z, nx, ny, nz, s, seed):
    return np.clip(1.6 * fbm(x * 18 * s, y * 18 * s, z * 18 * s, 3, seed) - 0.3, 0, 1)


def p_ceramic(x, y, z, nx, ny, nz, s, seed):
    return 0.7 * fbm(x * 5 * s, y * 5 * s, z * 5 * s, 2, seed) + 0.3 * value_noise(x * 60, y * 60, z * 60, seed + 1)


def p_brick(x, y, z, nx, ny, nz, s, seed):
    u, v = _plane_uv(x, y, z, nx, ny, nz)
    row = np.floor(v * 7 * s)
    u2 = u * 3.5 * s + 0.5 * (row % 2)
    fu, fv = u2 - np.floor(u2), v * 7 * s - row
    mortar = (np.minimum(fu, 1 - fu) < 0.04) | (np.minimum(fv, 1 - fv) < 0.08)
    brick = _hash(np.floor(u2).astype(np.int64), row.astype(np.int64), np.zeros_like(row, np.int64), seed)
    return np.where(mortar, 1.0, 0.35 * brick + 0.3 * fbm(x * 10, y * 10, z * 10, 2, seed))


def p_screen(x, y, z, nx, ny, nz, s, seed):
    return 0.5 * fbm(x * 1.5, y * 1.5, z * 1.5, 2, seed) + 0.5 * (np.sin(z * 300) > 0.9)


def p_window(x, y, z, nx, ny, nz, s, seed):
    """Sky through glass: brighter towards the top, soft clouds."""
    return np.clip(0.45 * fbm(x * 1.5, y * 1.5, z * 3, 3, seed) + 0.35 * (z - 1.0), 0, 1)


def p_books(x, y, z, nx, ny, nz, s, seed):
    u, _ = _plane_uv(x, y, z, nx, ny, nz)
    spine = _hash(np.floor(u * 28).astype(np.int64), np.floor(z * 3.5).astype(np.int64), np.zeros_like(u, np.int64), seed)
    return 0.8 * spine + 0.2 * value_noise(x * 50, y * 50, z * 50, seed)


@dataclass(frozen=True)
class Material:
    name: str
    pattern: object
    c1: tuple            # colour at pattern 0
    c2: tuple            # colour at pattern 1
    specular: float      # Blinn-Phong weight
    shininess: float = 24.0
    emissive: bool = False  # seen as is, not lit (window panes showing the sky)


MATERIALS: tuple[Material, ...] = (
    Material("plaster", p_plaster, (0.80, 0.78, 0.72), (0.68, 0.66, 0.60), 0.0),
    Material("wood", p_wood, (0.55, 0.36, 0.20), (0.30, 0.17, 0.08), 0.15, 16),
    Material("tiles", p_tiles, (0.82, 0.84, 0.86), (0.35, 0.35, 0.36), 0.35, 40),
    Material("fabric", p_fabric, (0.35, 0.40, 0.55), (0.20, 0.24, 0.36), 0.0),
    Material("carpet", p_carpet, (0.50, 0.42, 0.36), (0.30, 0.24, 0.20), 0.0),
    Material("marble", p_marble, (0.92, 0.90, 0.88), (0.55, 0.55, 0.58), 0.45, 60),
    Material("metal", p_metal, (0.70, 0.72, 0.75), (0.45, 0.47, 0.50), 0.7, 50),
    Material("plastic", p_plastic, (0.80, 0.30, 0.25), (0.60, 0.18, 0.15), 0.4, 30),
    Material("leather", p_leather, (0.40, 0.22, 0.12), (0.18, 0.09, 0.05), 0.25, 20),
    Material("foliage", p_foliage, (0.10, 0.22, 0.06), (0.35, 0.60, 0.18), 0.05, 8),
    Material("ceramic", p_ceramic, (0.95, 0.95, 0.93), (0.80, 0.82, 0.84), 0.6, 80),
    Material("brick", p_brick, (0.62, 0.28, 0.20), (0.80, 0.78, 0.74), 0.0),
    Material("screen", p_screen, (0.03, 0.04, 0.06), (0.12, 0.16, 0.22), 0.8, 90),
    Material("books", p_books, (0.15, 0.20, 0.45), (0.75, 0.60, 0.30), 0.1, 10),
    Material("window", p_window, (0.62, 0.78, 0.98), (1.0, 1.0, 1.0), 0.0, emissive=True),
)
MATERIAL_IDS = {m.name: i for i, m in enumerate(MATERIALS)}


def albedo(mat: Material, x, y, z, nx, ny, nz, tint, scale: float, seed: int):
    """(r, g, b) albedo arrays; ``tint`` multiplies both colours (per-object variation)."""
    p = np.clip(mat.pattern(x, y, z, nx, ny, nz, scale, seed), 0.0, 1.0)
    out = []
    for i in range(3):
        a, b = mat.c1[i] * tint[i], mat.c2[i] * tint[i]
        out.append(a + (b - a) * p)
    return out
