"""The synthetic generator: determinism, layout, manifest, scene classes."""
import json

import numpy as np
import pytest

from taskonomy.data import encodings as enc
from taskonomy.data.scene import ROOMS, build_scene
from taskonomy.data.synth import SynthSettings, splits, synthesize
from taskonomy.tasks import SCENE_CLASSES, SEMANTIC_CLASSES

from conftest import tree_hashes


_hashes = tree_hashes


def test_same_arguments_give_byte_identical_files_with_any_worker_count(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    synthesize(SynthSettings(out=str(a), buildings=3, points=2, views=2, size=24, seed=7, workers=1), progress=False)
    synthesize(SynthSettings(out=str(b), buildings=3, points=2, views=2, size=24, seed=7, workers=2), progress=False)
    ha, hb = _hashes(a), _hashes(b)
    assert len(ha) == 3 * 2 * 2 * len(enc.DOMAINS) + 1
    assert ha == hb
    c = tmp_path / "c"
    synthesize(SynthSettings(out=str(c), buildings=3, points=2, views=2, size=24, seed=8, workers=1), progress=False)
    assert _hashes(c)["rgb/synth0000/point_0_view_0_domain_rgb.png"] != ha["rgb/synth0000/point_0_view_0_domain_rgb.png"]


def test_layout_and_manifest(tmp_path):
    man = synthesize(SynthSettings(out=str(tmp_path), buildings=5, points=2, views=3, size=32, seed=0, workers=1),
                     progress=False)
    assert json.loads((tmp_path / "manifest.json").read_text()) == man
    assert man["counts"]["views"] == 30
    sp = man["splits"]
    assert sorted(sp["train"] + sp["val"] + sp["test"]) == man["buildings"]
    assert all(sp[k] for k in ("train", "val", "test"))
    b = man["buildings"][0]
    for d in enc.DOMAINS:
        path = tmp_path / d / b / enc.filename(1, 2, d)
        assert path.exists(), path
    depth = enc.read_file(tmp_path / "depth_zbuffer" / b / enc.filename(0, 0, "depth_zbuffer"), "depth_zbuffer")
    assert depth.shape == (32, 32) and 0 < depth.min() and depth.max() < enc.DEPTH_MISSING
    info = enc.read_file(tmp_path / "point_info" / b / enc.filename(0, 0, "point_info"), "point_info")
    assert info["building"] == b and len(info["camera_rotation_matrix"]) == 3
    assert info["scene_class"] == man["building_scene_class"][b]


def test_splits_are_by_building_stratified_and_deterministic():
    from taskonomy.data.synth import building_name, scene_class_of
    s1, s2 = splits(40, 0, 0.15, 0.15), splits(40, 0, 0.15, 0.15)
    assert s1 == s2 and len(s1["val"]) == 5 and len(s1["test"]) == 5 and len(s1["train"]) == 30
    assert not set(s1["train"]) & set(s1["test"]) and not set(s1["val"]) & set(s1["test"])
    cls = {building_name(i): scene_class_of(0, i) for i in range(40)}
    for split in ("train", "val", "test"):
        assert {cls[b] for b in s1[split]} == set(range(len(SCENE_CLASSES))), split
    for n in (3, 4, 7):
        s = splits(n, 1, 0.15, 0.15)
        assert all(s[k] for k in ("train", "val", "test")) and sum(map(len, s.values())) == n


def test_scene_classes_have_distinct_inventories():
    seen = {}
    for cls, name in enumerate(SCENE_CLASSES):
        objs = set()
        for s in range(4):
            sc = build_scene("b", 1000 * cls + s, cls)
            objs |= {SEMANTIC_CLASSES[p.semantic] for p in sc.prims}
        seen[name] = objs
    assert "toilet" in seen["bathroom"] and "toilet" not in seen["office"]
    assert "bed" in seen["bedroom"] and "bed" not in seen["kitchen"]
    assert "counter" in seen["kitchen"] and "sofa" in seen["living_room"] and "desk" in seen["office"]
    assert set(ROOMS) == set(SCENE_CLASSES)


def test_materials_are_textured_not_flat():
    from taskonomy.data.materials import MATERIALS, albedo
    rng = np.random.default_rng(0)
    x, y, z = (rng.uniform(0, 3, 4000) for _ in range(3))
    assert len(MATERIALS) >= 8
    for m in MATERIALS:
        for normal in ((1.0, 0, 0), (0, 0, 1.0)):
            nx, ny, nz = (np.full_like(x, c) for c in normal)
            r, g, b = albedo(m, x, y, z, nx, ny, nz, (1, 1, 1), 1.0, 3)
            assert np.std(r + g + b) > 0.02, f"material {m.name} is flat"


def test_bad_settings_name_the_key(tmp_path):
    with pytest.raises(ValueError, match="buildings"):
        synthesize(SynthSettings(out=str(tmp_path), buildings=0), progress=False)
