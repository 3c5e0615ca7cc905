"""Procedural indoor scenes: a room of primitives, lights, sampled 3D points and cameras.

A *building* of the synthetic dataset is one furnished room of a scene class
(``taskonomy.tasks.SCENE_CLASSES``). Its furniture is built from boxes, yaw-rotated boxes,
rectangles (planes), spheres and vertical cylinders, each with an object class
(``SEMANTIC_CLASSES``) and a procedural material; doors, pictures and windows hang on the
walls (window glass has no depth, like the holes of the real scans). Each scene class has its own inventory,
room size and materials, so the scene class is learnable from one view. Then ``M`` points
are sampled on visible surfaces (mostly furniture) and ``V`` cameras per point fixate it
(line of sight checked, never inside furniture). Everything is a pure function of the
building's seed, so any worker can rebuild the same scene.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from taskonomy.data import geometry
from taskonomy.data.materials import MATERIAL_IDS
from taskonomy.tasks import SCENE_CLASSES, SEMANTIC_CLASSES

SEM = {name: i for i, name in enumerate(SEMANTIC_CLASSES)}
M = MATERIAL_IDS
ROOM_PARTS = ("floor", "ceiling", "wall_x0", "wall_x1", "wall_y0", "wall_y1")


@dataclass
class Prim:
    kind: str                     # box | plane | sphere | cylinder
    center: np.ndarray            # world centre
    half: np.ndarray              # box half extents (local); plane: 0 along its axis;
    #                               sphere: (r, r, r); cylinder: (r, r, half height)
    material: int
    semantic: int
    instance: int
    yaw: float = 0.0              # boxes only: rotation about world z
    axis: int = 2                 # planes only: world axis of the normal
    tint: tuple = (1.0, 1.0, 1.0)
    tex_scale: float = 1.0
    tex_seed: int = 0
    nodata: bool = False          # no depth / normals there (glass: holes in the real scans)

    def corners(self) -> np.ndarray:
        """8 corners of a world bounding box (for screen-space culling and placement)."""
        h = self.half.copy()
        if self.kind == "box" and self.yaw:
            c, s = abs(np.cos(self.yaw)), abs(np.sin(self.yaw))
            h = np.array([c * h[0] + s * h[1], s * h[0] + c * h[1], h[2]])
        sg = np.array([[a, b, c] for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)], float)
        return self.center + sg * h


@dataclass
class Light:
    pos: np.ndarray
    color: np.ndarray             # colour x intensity


@dataclass
class View:
    point: int
    view: int
    eye: np.ndarray
    R: np.ndarray
    fov: float


@dataclass
class Scene:
    building: str
    scene_class: int
    lo: np.ndarray
    hi: np.ndarray
    room_materials: list          # per ROOM_PARTS: (material, tint, scale, seed)
    prims: list = field(default_factory=list)
    lights: list = field(default_factory=list)
    ambient: np.ndarray = field(default_factory=lambda: np.full(3, 0.2))
    points: list = field(default_factory=list)          # (location, normal)
    views: dict = field(default_factory=dict)           # (point, view) -> View


# ---------------------------------------------------------------- furniture builders
# Builders work in a local frame: origin at the floor centre of the footprint, x across,
# y from front (-) to back (+: the wall side), z up. They return prims with local centres.
def _box(c, size, mat, sem, **kw):
    return Prim("box", np.array(c, float), np.array(size, float) / 2, mat, sem, 0, **kw)


def _cyl(c, r, h, mat, sem, **kw):
    return Prim("cylinder", np.array(c, float), np.array([r, r, h / 2]), mat, sem, 0, **kw)


def _sph(c, r, mat, sem, **kw):
    return Prim("sphere", np.array(c, float), np.array([r, r, r]), mat, sem, 0, **kw)


def _tint(rng, spread=0.25):
    return tuple(np.clip(1 + rng.uniform(-spread, spread, 3), 0.4, 1.6))


def bed(rng):
    w, d = rng.uniform(1.2, 1.9), rng.uniform(1.9, 2.2)
    fab, t = M["fabric"], _tint(rng, 0.5)
    ps = [_box((0, 0, 0.2), (w, d, 0.4), M["wood"], SEM["bed"], tint=_tint(rng)),
          _box((0, -0.02, 0.5), (w - 0.06, d - 0.1, 0.2), fab, SEM["bed"], tint=t),
          _box((0, d / 2 - 0.04, 0.55), (w, 0.08, 1.1), M["wood"], SEM["bed"], tint=_tint(rng))]
    for sx in ((-w / 4, w / 4) if w > 1.4 else (0,)):
        ps.append(_box((sx, d / 2 - 0.3, 0.66), (min(0.6, w / 2 - 0.1), 0.35, 0.12), fab, SEM["bed"],
                       tint=_tint(rng, 0.1)))
    return ps, (w, d)


def chair(rng):
    s, h = rng.uniform(0.42, 0.5), rng.uniform(0.42, 0.48)
    mat = [M["wood"], M["plastic"], M["metal"]][rng.integers(3)]
    t = _tint(rng, 0.4)
    ps = [_box((0, 0, h), (s, s, 0.05), mat, SEM["chair"], tint=t),
          _box((0, s / 2 - 0.025, h + 0.25), (s, 0.05, 0.45), mat, SEM["chair"], tint=t)]
    for sx in (-1, 1):
        for sy in (-1, 1):
            ps.append(_cyl((sx * (s / 2 - 0.03), sy * (s / 2 - 0.03), (h - 0.025) / 2), 0.022, h - 0.025,
                           M["metal"], SEM["chair"]))
    return ps, (s, s)


def table(rng, low=False):
    w, d = rng.uniform(0.9, 1.6), rng.uniform(0.6, 0.95)
    h = rng.uniform(0.38, 0.46) if low else rng.uniform(0.72, 0.77)
    mat = [M["wood"], M["marble"], M["wood"]][rng.integers(3)]
    ps = [_box((0, 0, h - 0.02), (w, d, 0.04), mat, SEM["table"], tint=_tint(rng))]
    for sx in (-1, 1):
        for sy in (-1, 1):
            ps.append(_cyl((sx * (w / 2 - 0.06), sy * (d / 2 - 0.06), (h - 0.04) / 2), 0.03, h - 0.04,
                           M["wood"], SEM["table"], tint=_tint(rng, 0.1)))
    return ps, (w, d)


def desk(rng):
    w, d, h = rng.uniform(1.1, 1.6), rng.uniform(0.6, 0.75), 0.74
    t = _tint(rng)
    mat = [M["wood"], M["plastic"]][rng.integers(2)]
    return [_box((0, 0, h - 0.02), (w, d, 0.04), mat, SEM["desk"], tint=t),
            _box((-w / 2 + 0.03, 0, (h - 0.04) / 2), (0.04, d - 0.04, h - 0.04), mat, SEM["desk"], tint=t),
            _box((w / 2 - 0.22, 0, (h - 0.04) / 2), (0.4, d - 0.04, h - 0.04), mat, SEM["desk"], tint=t)], (w, d)


def sofa(rng):
    w, d = rng.uniform(1.6, 2.3), rng.uniform(0.85, 1.0)
    mat = [M["fabric"], M["leather"]][rng.integers(2)]
    t = _tint(rng, 0.5)
    return [_box((0, 0, 0.21), (w, d, 0.42), mat, SEM["sofa"], tint=t),
            _box((0, d / 2 - 0.11, 0.6), (w, 0.22, 0.4), mat, SEM["sofa"], tint=t),
            _box((-w / 2 + 0.1, 0, 0.55), (0.2, d, 0.3), mat, SEM["sofa"], tint=t),
            _box((w / 2 - 0.1, 0, 0.55), (0.2, d, 0.3), mat, SEM["sofa"], tint=t)], (w, d)


def cabinet(rng, tall=None):
    tall = rng.random() < 0.4 if tall is None else tall
    w, d = rng.uniform(0.45, 1.2), rng.uniform(0.4, 0.6)
    h = rng.uniform(1.6, 2.1) if tall else rng.uniform(0.5, 0.9)
    mat = [M["wood"], M["plastic"], M["wood"]][rng.integers(3)]
    t = _tint(rng)
    ps = [_box((0, 0, h / 2), (w, d, h), mat, SEM["cabinet"], tint=t)]
    ps.append(_box((0, -d / 2 - 0.01, h * 0.6), (0.12, 0.02, 0.025), M["metal"], SEM["cabinet"]))
    return ps, (w, d)


def shelf(rng):
    w, d, h = rng.uniform(0.7, 1.4), rng.uniform(0.3, 0.4), rng.uniform(1.2, 2.0)
    t, n = _tint(rng), int(rng.integers(3, 6))
    ps = [_box((-w / 2 + 0.02, 0, h / 2), (0.04, d, h), M["wood"], SEM["shelf"], tint=t),
          _box((w / 2 - 0.02, 0, h / 2), (0.04, d, h), M["wood"], SEM["shelf"], tint=t),
          _box((0, d / 2 - 0.01, h / 2), (w, 0.02, h), M["wood"], SEM["shelf"], tint=t)]
    for k in range(n + 1):
        z = 0.03 + k * (h - 0.06) / n
        ps.append(_box((0, 0, z), (w - 0.08, d, 0.03), M["wood"], SEM["shelf"], tint=t))
        if k < n and rng.random() < 0.8:
            bw = rng.uniform(0.3, w - 0.12)
            bh = min(rng.uniform(0.15, 0.28), (h - 0.06) / n - 0.04)
            ps.append(_box((rng.uniform(-(w - 0.1 - bw) / 2, (w - 0.1 - bw) / 2), -0.02, z + 0.015 + bh / 2),
                           (bw, d - 0.08, bh), M["books"], SEM["shelf"], tint=_tint(rng, 0.4),
                           tex_seed=int(rng.integers(1000))))
    return ps, (w, d)


def lamp(rng, on_floor=True):
    h = rng.uniform(1.3, 1.7) if on_floor else rng.uniform(0.35, 0.5)
    r = rng.uniform(0.15, 0.25) if on_floor else rng.uniform(0.1, 0.15)
    shade = [M["fabric"], M["plastic"]][rng.integers(2)]
    ps = [_cyl((0, 0, 0.015), r * 0.9, 0.03, M["metal"], SEM["lamp"]),
          _cyl((0, 0, h / 2), 0.015, h, M["metal"], SEM["lamp"]),
          _cyl((0, 0, h), r, 0.3 * h / 1.5 + 0.1, shade, SEM["lamp"], tint=_tint(rng, 0.2))]
    if rng.random() < 0.4:
        ps[-1] = _sph((0, 0, h), r, shade, SEM["lamp"], tint=_tint(rng, 0.2))
    return ps, (2 * r, 2 * r)


def monitor(rng, tv=False):
    w = rng.uniform(0.9, 1.4) if tv else rng.uniform(0.45, 0.65)
    h = w * 0.58
    return [_box((0, 0, 0.01), (w * 0.35, 0.2, 0.02), M["metal"], SEM["monitor"]),
            _cyl((0, 0.02, 0.1), 0.02, 0.2, M["metal"], SEM["monitor"]),
            _box((0, 0, 0.2 + h / 2), (w, 0.04, h), M["screen"], SEM["monitor"])], (w, 0.2)


def plant(rng):
    r, h = rng.uniform(0.1, 0.2), rng.uniform(0.2, 0.45)
    ps = [_cyl((0, 0, h / 2), r, h, M["ceramic"], SEM["plant"], tint=_tint(rng, 0.3))]
    for k in range(int(rng.integers(1, 4))):
        rr = rng.uniform(0.15, 0.3)
        ps.append(_sph((rng.uniform(-0.05, 0.05), rng.uniform(-0.05, 0.05), h + rr * 0.8 + k * rr * 0.9), rr,
                       M["foliage"], SEM["plant"], tint=_tint(rng, 0.2), tex_seed=int(rng.integers(1000))))
    return ps, (2 * r + 0.3, 2 * r + 0.3)


def toilet(rng):
    return [_cyl((0, -0.1, 0.2), 0.2, 0.4, M["ceramic"], SEM["toilet"]),
            _box((0, 0.2, 0.45), (0.42, 0.2, 0.4), M["ceramic"], SEM["toilet"]),
            _cyl((0, -0.1, 0.41), 0.21, 0.02, M["plastic"], SEM["toilet"], tint=(1.2, 3, 3.5))], (0.45, 0.7)


def sink(rng, on_cabinet=True):
    w = rng.uniform(0.5, 0.8)
    ps = []
    if on_cabinet:
        ps.append(_box((0, 0, 0.4), (w, 0.5, 0.8), [M["wood"], M["plastic"]][rng.integers(2)], SEM["sink"],
                       tint=_tint(rng)))
    else:
        ps.append(_cyl((0, 0, 0.4), 0.09, 0.8, M["ceramic"], SEM["sink"]))
    ps += [_box((0, 0, 0.85), (w, 0.45, 0.1), M["ceramic"], SEM["sink"]),
           _cyl((0, 0.17, 0.98), 0.02, 0.16, M["metal"], SEM["sink"])]
    return ps, (w, 0.5)


def bathtub(rng):
    w = rng.uniform(1.5, 1.8)
    return [_box((0, 0, 0.27), (w, 0.75, 0.54), M["ceramic"], SEM["bathtub"]),
            _box((0, 0, 0.545), (w - 0.16, 0.6, 0.01), M["metal"], SEM["bathtub"], tint=(0.6, 0.7, 0.8)),
            _cyl((w / 2 - 0.12, 0.3, 0.65), 0.025, 0.2, M["metal"], SEM["bathtub"])], (w, 0.75)


def counter(rng):
    w = rng.uniform(1.4, 2.8)
    t = _tint(rng)
    ps = [_box((0, 0, 0.43), (w, 0.6, 0.86), [M["wood"], M["plastic"]][rng.integers(2)], SEM["counter"], tint=t),
          _box((0, -0.01, 0.88), (w + 0.02, 0.64, 0.04), M["marble"], SEM["counter"], tint=_tint(rng, 0.15))]
    for k in range(int(w // 0.6)):
        ps.append(_box((-w / 2 + 0.3 + k * 0.6, -0.31, 0.7), (0.15, 0.02, 0.02), M["metal"], SEM["counter"]))
    return ps, (w, 0.62)


def stool(rng):
    h = rng.uniform(0.6, 0.75)
    return [_cyl((0, 0, h), 0.17, 0.05, [M["leather"], M["wood"]][rng.integers(2)], SEM["stool"],
                 tint=_tint(rng)),
            _cyl((0, 0, h / 2), 0.025, h, M["metal"], SEM["stool"]),
            _cyl((0, 0, 0.015), 0.16, 0.03, M["metal"], SEM["stool"])], (0.36, 0.36)


def ball(rng):
    r = rng.uniform(0.1, 0.25)
    return [_sph((0, 0, r), r, [M["plastic"], M["leather"]][rng.integers(2)], SEM["ball"],
                 tint=_tint(rng, 0.6))], (2 * r, 2 * r)


BUILDERS = {"bed": bed, "chair": chair, "table": table, "coffee_table": lambda r: table(r, low=True),
            "desk": desk, "sofa": sofa, "cabinet": cabinet, "wardrobe": lambda r: cabinet(r, tall=True),
            "nightstand": lambda r: cabinet(r, tall=False), "shelf": shelf, "lamp": lamp,
            "tv": lambda r: monitor(r, tv=True), "plant": plant, "toilet": toilet, "sink": sink,
            "pedestal_sink": lambda r: sink(r, on_cabinet=False), "bathtub": bathtub,
            "counter": counter, "stool": stool, "ball": ball}

# scene class -> room size ranges (x, y, z), floor/wall materials, inventory:
# (builder, min, max, against_wall)
ROOMS = {
    "bathroom": dict(size=((2.0, 3.2), (2.0, 3.4), (2.3, 2.6)), floor=["tiles"], wall=["tiles", "ceramic"],
                     items=[("toilet", 1, 1, True), ("pedestal_sink", 0, 1, True), ("sink", 1, 1, True),
                            ("bathtub", 0, 1, True), ("cabinet", 0, 1, True), ("plant", 0, 1, True),
                            ("ball", 0, 1, False)], rugs=(0, 1), pictures=(0, 1)),
    "bedroom": dict(size=((3.0, 4.5), (3.2, 5.0), (2.4, 2.9)), floor=["carpet", "wood"], wall=["plaster"],
                    items=[("bed", 1, 1, True), ("nightstand", 1, 2, True), ("wardrobe", 0, 2, True),
                           ("lamp", 1, 2, True), ("desk", 0, 1, True), ("chair", 0, 1, False),
                           ("shelf", 0, 1, True), ("plant", 0, 1, True)], rugs=(0, 1), pictures=(1, 2)),
    "kitchen": dict(size=((3.0, 5.0), (3.0, 4.8), (2.4, 2.9)), floor=["tiles"], wall=["plaster", "brick"],
                    items=[("counter", 2, 3, True), ("wardrobe", 1, 2, True), ("table", 1, 1, False),
                           ("chair", 2, 4, False), ("stool", 0, 3, False), ("plant", 0, 1, True),
                           ("sink", 0, 1, True)], rugs=(0, 0), pictures=(0, 1)),
    "living_room": dict(size=((4.0, 7.0), (4.0, 6.5), (2.5, 3.2)), floor=["wood", "carpet"],
                        wall=["plaster", "brick"],
                        items=[("sofa", 1, 2, True), ("coffee_table", 1, 1, False), ("chair", 1, 2, False),
                               ("shelf", 1, 2, True), ("lamp", 1, 2, True), ("plant", 1, 3, True),
                               ("tv", 0, 1, True), ("ball", 0, 2, False), ("cabinet", 0, 1, True)],
                        rugs=(1, 1), pictures=(1, 3)),
    "office": dict(size=((3.0, 6.0), (3.0, 6.0), (2.6, 3.0)), floor=["carpet"], wall=["plaster"],
                   items=[("desk", 2, 4, True), ("chair", 2, 4, False), ("shelf", 1, 3, True),
                          ("wardrobe", 1, 2, True), ("plant", 0, 2, True), ("lamp", 0, 1, True)],
                   rugs=(0, 0), pictures=(0, 1)),
}
assert set(ROOMS) == set(SCENE_CLASSES), "every scene class needs a room recipe"

WALL_TINTS = {"bathroom": (0.9, 1.0, 1.05), "bedroom": (1.05, 0.95, 0.95), "kitchen": (1.05, 1.02, 0.9),
              "living_room": (1.0, 0.97, 0.9), "office": (0.92, 0.95, 1.0)}


def _place(rng, prims_local, foot, yaw, pos, instance, scene):
    c, s = np.cos(yaw), np.sin(yaw)
    out = []
    for p in prims_local:
        q = Prim(**{**p.__dict__})
        lx, ly, lz = p.center
        q.center = np.array([pos[0] + c * lx - s * ly, pos[1] + s * lx + c * ly, lz])
        q.instance = instance
        if q.kind == "box":
            q.yaw = yaw
        if q.tex_seed == 0:
            q.tex_seed = int(rng.integers(1, 10000))
        out.append(q)
    scene.prims.extend(out)


def _footprint(pos, foot, yaw):
    c, s = abs(np.cos(yaw)), abs(np.sin(yaw))
    hx, hy = (c * foot[0] + s * foot[1]) / 2, (s * foot[0] + c * foot[1]) / 2
    return np.array([pos[0] - hx, pos[1] - hy, pos[0] + hx, pos[1] + hy])


def _overlaps(fp, taken, gap=0.05):
    return any(fp[0] < t[2] + gap and t[0] < fp[2] + gap and fp[1] < t[3] + gap and t[1] < fp[3] + gap
               for t in taken)


def build_scene(building: str, seed: int, scene_class: int | None = None) -> Scene:
    """The furnished room of one building (a pure function of ``seed``)."""
    rng = np.random.default_rng(seed)
    if scene_class is None:
        scene_class = int(rng.integers(len(SCENE_CLASSES)))
    name = SCENE_CLASSES[scene_class]
    recipe = ROOMS[name]
    size = np.array([rng.uniform(*r) for r in recipe["size"]])
    lo, hi = np.zeros(3), size
    wall_mat = M[recipe["wall"][rng.integers(len(recipe["wall"]))]]
    floor_mat = M[recipe["floor"][rng.integers(len(recipe["floor"]))]]
    wt = tuple(np.array(WALL_TINTS[name]) * np.array(_tint(rng, 0.12)))
    room = [(floor_mat, _tint(rng, 0.2), 1.0, int(rng.integers(10000))),
            (M["plaster"], (1.05, 1.05, 1.05), 0.5, int(rng.integers(10000)))]
    room += [(wall_mat, wt, 1.0, int(rng.integers(10000)))] * 4
    scene = Scene(building, scene_class, lo, hi, room)
    taken: list = []
    inst = 1
    # furniture: each item of the recipe, against a wall (back to it) or free-standing
    for kind, nmin, nmax, wall in recipe["items"]:
        for _ in range(int(rng.integers(nmin, nmax + 1))):
            prims, foot = BUILDERS[kind](rng)
            for _attempt in range(30):
                if wall:
                    side = int(rng.integers(4))
                    yaw = [np.pi, 0.0, -np.pi / 2, np.pi / 2][side]   # back (+y local) to the wall
                    d = foot[1] / 2 + 0.02
                    if side < 2:
                        x = rng.uniform(lo[0] + foot[0] / 2 + 0.05, hi[0] - foot[0] / 2 - 0.05)
                        pos = (x, lo[1] + d if side == 0 else hi[1] - d)
                    else:
                        y = rng.uniform(lo[1] + foot[0] / 2 + 0.05, hi[1] - foot[0] / 2 - 0.05)
                        pos = (lo[0] + d if side == 2 else hi[0] - d, y)
                else:
                    yaw = rng.uniform(-np.pi, np.pi)
                    m = max(foot) / 2 + 0.3
                    pos = (rng.uniform(lo[0] + m, hi[0] - m), rng.uniform(lo[1] + m, hi[1] - m))
                fp = _footprint(pos, foot, yaw)
                if fp[0] < lo[0] or fp[1] < lo[1] or fp[2] > hi[0] or fp[3] > hi[1] or _overlaps(fp, taken):
                    continue
                taken.append(fp)
                _place(rng, prims, foot, yaw, pos, inst, scene)
                inst += 1
                break
    # rugs on the floor, each at its own height (coplanar rectangles z-fight)
    for k in range(int(rng.integers(recipe["rugs"][0], recipe["rugs"][1] + 1))):
        w, d = rng.uniform(1.2, min(3.0, size[0] - 0.6)), rng.uniform(1.0, min(2.2, size[1] - 0.6))
        c = (rng.uniform(w / 2 + 0.2, size[0] - w / 2 - 0.2), rng.uniform(d / 2 + 0.2, size[1] - d / 2 - 0.2))
        scene.prims.append(Prim("plane", np.array([c[0], c[1], 0.004 + 0.002 * k]), np.array([w / 2, d / 2, 0]),
                                [M["carpet"], M["fabric"]][rng.integers(2)], SEM["rug"], inst, axis=2,
                                tint=_tint(rng, 0.6), tex_seed=int(rng.integers(10000))))
        inst += 1
    # a door, windows and pictures on the walls, slightly in front of them, never overlapping
    n_win = int(rng.integers(0, 3)) if name != "bathroom" else int(rng.integers(0, 2))
    n_pic = int(rng.integers(recipe["pictures"][0], recipe["pictures"][1] + 1))
    used: list = []                                    # (side, start, end) along each wall
    for kind in ["door"] + ["window"] * n_win + ["picture"] * n_pic:
        for _attempt in range(10):
            side = int(rng.integers(4))
            axis = 1 if side < 2 else 0
            along = 0 if axis == 1 else 1
            length = size[along]
            if kind == "door":
                w, h, zc, mat, off = 0.9, 2.05, 1.025, M["wood"], 0.006
            elif kind == "window":
                w, h = rng.uniform(0.8, 1.6), rng.uniform(0.9, 1.3)
                zc, mat, off = min(1.55, size[2] - h / 2 - 0.15), M["window"], 0.004
            else:
                w, h = rng.uniform(0.4, 1.0), rng.uniform(0.3, 0.8)
                zc, off = rng.uniform(1.3, min(1.8, size[2] - h / 2 - 0.2)), 0.008
                mat = [M["marble"], M["foliage"], M["plastic"], M["fabric"]][rng.integers(4)]   # "paintings"
            if length < w + 0.4:
                continue
            t = rng.uniform(w / 2 + 0.1, length - w / 2 - 0.1)
            if any(sd == side and t - w / 2 < b + 0.1 and a - 0.1 < t + w / 2 for sd, a, b in used):
                continue
            used.append((side, t - w / 2, t + w / 2))
            c = np.zeros(3)
            c[along] = t
            c[axis] = (lo[axis] + off) if side % 2 == 0 else (hi[axis] - off)
            c[2] = zc
            half = np.zeros(3)
            half[along], half[2] = w / 2, h / 2
            sem = 0 if kind == "window" else SEM[kind]
            scene.prims.append(Prim("plane", c, half, mat, sem, inst, axis=axis, tint=_tint(rng, 0.5 if sem else 0.05),
                                    tex_scale=float(rng.uniform(1.5, 3)), tex_seed=int(rng.integers(10000)),
                                    nodata=kind == "window"))
            inst += 1
            break
    # lights: 1-3 ceiling lights of varying colour and intensity
    for _ in range(int(rng.integers(1, 4))):
        warm = rng.uniform(-1, 1)
        col = np.array([1.0 + 0.15 * warm, 0.95, 1.0 - 0.25 * warm]) * rng.uniform(0.5, 1.1)
        pos = np.array([rng.uniform(0.3, size[0] - 0.3), rng.uniform(0.3, size[1] - 0.3), size[2] - 0.15])
        scene.lights.append(Light(pos, col))
    scene.ambient = np.array(_tint(rng, 0.1)) * rng.uniform(0.12, 0.25)
    return scene


# ---------------------------------------------------------------- points and cameras
def _boxes(scene: Scene):
    """(lo, hi) arrays of every primitive's world bounding box, computed once per scene."""
    if getattr(scene, "_aabb", None) is None or len(scene._aabb[0]) != len(scene.prims):
        c = np.array([p.corners() for p in scene.prims]).reshape(-1, 8, 3) if scene.prims else np.zeros((0, 8, 3))
        scene._aabb = (c.min(1), c.max(1))
    return scene._aabb


def _inside_any(scene: Scene, eye, margin=0.15) -> bool:
    if np.any(eye < scene.lo + 0.25) or np.any(eye > scene.hi - 0.25):
        return True
    lo, hi = _boxes(scene)
    return bool(np.any(np.all((eye > lo - margin) & (eye < hi + margin), axis=1)))


def plan_views(scene: Scene, n_points: int, n_views: int, seed: int, caster) -> None:
    """Sample ``n_points`` surface points and ``n_views`` fixating cameras for each.

    ``caster(scene, eye, dirs) -> (t, prim_index, normal)`` casts single rays (from
    ``render``); a point comes from a random camera aimed at furniture (85%) or anywhere, and
    every view of it must see it (line of sight) from 0.8-4 m at a non-grazing angle.
    """
    rng = np.random.default_rng(seed)
    furniture = [p for p in scene.prims if p.kind != "plane"] or scene.prims
    for i in range(n_points):
        for _attempt in range(200):
            eye = _random_eye(scene, rng)
            if eye is None:
                continue
            if furniture and rng.random() < 0.85:
                tgt = furniture[rng.integers(len(furniture))].center + rng.normal(0, 0.1, 3)
            else:
                tgt = rng.uniform(scene.lo, [scene.hi[0], scene.hi[1], min(scene.hi[2], 1.9)])
            d = tgt - eye
            d /= np.linalg.norm(d)
            t, _, n = caster(scene, eye, d[None])
            point, normal = eye + t[0] * d, n[0]
            views = _views_of(scene, point, normal, n_views, rng, caster, first=eye)
            if views is not None:
                break
        else:
            raise RuntimeError(f"building {scene.building}: could not place point {i} with {n_views} views")
        scene.points.append((point, normal))
        for j, (e, fov, roll) in enumerate(views):
            scene.views[(i, j)] = View(i, j, e, geometry.look_at(e, point, roll), fov)


def _random_eye(scene, rng):
    eye = np.array([rng.uniform(scene.lo[0] + 0.3, scene.hi[0] - 0.3),
                    rng.uniform(scene.lo[1] + 0.3, scene.hi[1] - 0.3), rng.uniform(1.0, 1.8)])
    return None if _inside_any(scene, eye) else eye


def _views_of(scene, point, normal, n_views, rng, caster, first=None):
    """``n_views`` cameras that see ``point``: candidates are drawn first, then one batched
    cast from the point towards all of them checks the line of sight."""
    cands = [first] if first is not None else []
    for _ in range(40 * n_views):
        eye = _random_eye(scene, rng)
        if eye is not None:
            cands.append(eye)
    keep = []
    for eye in cands:
        v = point - eye
        dist = np.linalg.norm(v)
        if 0.8 <= dist <= 4.5 and np.dot(-v / dist, normal) >= 0.25:   # not grazing, not behind
            keep.append(eye)
    if len(keep) < n_views:
        return None
    eyes = np.array(keep)
    dirs = eyes - point
    dist = np.linalg.norm(dirs, axis=1)
    origin = point + 1e-3 * normal
    t, _, _ = caster(scene, origin, dirs / dist[:, None])
    visible = np.flatnonzero(t >= dist - 0.01 - 0.005 * dist)
    if len(visible) < n_views:
        return None
    return [(eyes[k], float(rng.uniform(0.85, 1.15)), float(rng.normal(0, 0.06))) for k in visible[:n_views]]
