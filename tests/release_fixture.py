"""A tiny dataset in the real Taskonomy release's encodings, written from ../shared/REALDATA.md
with numpy, PIL and json only: none of the project's own writers (taskonomy.data.synth,
taskonomy.data.encodings) is used, so the loader's tests compare it with an independent reading
of the release's format.

    truth = write_release(root, nesting="domain/dataset/building")

- File names ``point_{P}_view_{V}_domain_{domain}.{png,npy,json}``, in one of the three
  nestings (``NESTINGS``).
- depth_zbuffer: uint16 PNG in 1/512 m, 65535 = no data.
- normal: RGB PNG centred at 127; principal_curvature: first two channels, 127 = zero.
- segment_semantic: 8-bit PNG, 18 labels (0 uncertain, 1 background, 2-17 objects).
- class_object: ``.npy`` of 1000 logits; class_scene: ``.npy`` of a 365-way Places distribution.
- point_info: JSON with camera_location, camera_rotation_final (XYZ Euler angles, static axes,
  as the taskbank's ``euler2mat(*rot, axes='sxyz')``) of a camera that looks at point_location
  (Blender convention: it looks down its -z, y up), field_of_view_rads, point_uuid, view_id,
  resolution, nonfixated_points_in_view.

Returns the ground truth per view (``truth[(building, point, view)]``): the logits, the Places
vector, the labels, the raw depth, the camera's rotation matrix and position, the point.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

NESTINGS = {"domain/building": "{domain}/{building}",
            "domain/dataset/building": "{domain}/taskonomy/{building}",
            "building/domain": "{building}/{domain}"}
BUILDINGS = ("allensville", "beechwood", "coffeen")
DEPTH_PER_M, NO_DEPTH = 512, 65535
# Places365 positions (alphabetical category list) of two classes, checked by the tests:
# bedroom (an indoor class: the 10th of the paper's 63) and airfield (outdoor: dropped)
PLACES_BEDROOM, PLACES_AIRFIELD, BEDROOM_AMONG_63 = 52, 0, 9


def _rot(axis: int, a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    i, j = [k for k in range(3) if k != axis]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


def euler_sxyz_to_matrix(ax: float, ay: float, az: float) -> np.ndarray:
    """Static (extrinsic) axes: rotate about x, then about y, then about z."""
    return _rot(2, az) @ _rot(1, ay) @ _rot(0, ax)


def matrix_to_euler_sxyz(r: np.ndarray) -> tuple[float, float, float]:
    ay = -np.arcsin(np.clip(r[2, 0], -1, 1))
    return float(np.arctan2(r[2, 1], r[2, 2])), float(ay), float(np.arctan2(r[1, 0], r[0, 0]))


def blender_look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """World-from-camera rotation of a Blender camera (x right, y up, looking down -z)."""
    f = (target - eye) / np.linalg.norm(target - eye)
    right = np.cross(f, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, f)
    return np.stack([right, up, -f], axis=1)


def _png(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def write_release(root, nesting: str = "domain/building", buildings=BUILDINGS, points: int = 2,
                  views: int = 3, size: int = 16, seed: int = 0) -> dict:
    root = Path(root)
    rng = np.random.default_rng(seed)
    truth = {}
    for b in buildings:
        for p in range(points):
            point = rng.uniform([-2, -2, 0.5], [2, 2, 2])
            for v in range(views):
                eye = point + rng.uniform([-3, -3, -0.5], [3, 3, 0.8])
                r = blender_look_at(eye, point)
                t = {"point": point, "eye": eye, "R_blender": r}
                t["logits"] = rng.normal(0, 3, 1000).astype(np.float32)
                places = rng.random(365) ** 4
                places[PLACES_BEDROOM] += 5.0
                places[PLACES_AIRFIELD] += 3.0
                t["places"] = (places / places.sum()).astype(np.float32)
                labels = rng.integers(0, 18, (size, size)).astype(np.uint8)
                labels[0, :4] = [0, 1, 17, 0]
                t["labels"] = labels
                depth = rng.integers(DEPTH_PER_M // 2, 8 * DEPTH_PER_M, (size, size)).astype(np.uint16)
                depth[-2:, :] = NO_DEPTH
                t["depth"] = depth
                normal = np.full((size, size, 3), 127, np.uint8)
                normal[..., 2] = 254                      # facing the camera: (0, 0, 1)
                curv = np.full((size, size, 3), 127, np.uint8)   # zero curvature
                files = {
                    "rgb": lambda f: _png(f, rng.integers(0, 256, (size, size, 3)).astype(np.uint8)),
                    "depth_zbuffer": lambda f: _png(f, depth),
                    "normal": lambda f: _png(f, normal),
                    "principal_curvature": lambda f: _png(f, curv),
                    "segment_semantic": lambda f: _png(f, labels),
                    "class_object": lambda f: np.save(f, t["logits"]),
                    "class_scene": lambda f: np.save(f, t["places"]),
                    "point_info": lambda f: f.write_text(json.dumps({
                        "camera_location": eye.tolist(),
                        "camera_rotation_final": list(matrix_to_euler_sxyz(r)),
                        "field_of_view_rads": 1.0, "point_location": point.tolist(),
                        "point_uuid": f"{b}-{p}", "view_id": v, "resolution": size,
                        "nonfixated_points_in_view": [q for q in range(points) if q != p]})),
                }
                for domain, write in files.items():
                    ext = {"class_object": "npy", "class_scene": "npy", "point_info": "json"}.get(domain, "png")
                    folder = root / NESTINGS[nesting].format(domain=domain, building=b)
                    folder.mkdir(parents=True, exist_ok=True)
                    write(folder / f"point_{p}_view_{v}_domain_{domain}.{ext}")
                truth[(b, p, v)] = t
    return truth


def write_split_csv(path, train=BUILDINGS[:1], val=BUILDINGS[1:2], test=BUILDINGS[2:]) -> Path:
    """A Taskonomy train_val_test_*.csv (id,train,val,test)."""
    rows = [f"{b},{int(b in train)},{int(b in val)},{int(b in test)}" for b in (*train, *val, *test)]
    Path(path).write_text("id,train,val,test\n" + "\n".join(rows) + "\n")
    return Path(path)
