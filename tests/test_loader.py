"""The loader contract of docs/interfaces.md, on a tiny synthetic dataset and the older nesting."""
import shutil

import numpy as np
import pytest
import torch

from taskonomy.data import encodings as enc
from taskonomy.data.dataset import DatasetIndex, TaskonomyDataset, TupleDataset, jigsaw_permutations
from taskonomy.data.synth import SynthSettings, synthesize
from taskonomy.tasks import JIGSAW_PERMUTATIONS, TASKS


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    synthesize(SynthSettings(out=str(out), buildings=4, points=3, views=3, size=32, seed=1, workers=1),
               progress=False)
    return out


SINGLE = [t for t, v in TASKS.items() if v.views == 1]
TUPLE = [t for t, v in TASKS.items() if v.views > 1]


def test_single_view_items_follow_the_contract(root):
    ds = TaskonomyDataset(root, split="train", tasks=SINGLE, seed=0)
    assert len(ds) == len(ds.keys) and ds.keys == sorted(ds.keys)
    item = ds[1]
    assert item["index"].dtype == torch.int64 and int(item["index"]) == 1
    rgb = item["rgb"]
    assert rgb.shape == (3, 32, 32) and rgb.dtype == torch.float32 and rgb.min() >= -1 and rgb.max() <= 1
    for t in SINGLE:
        task = TASKS[t]
        if task.kind == "none":
            assert f"y/{t}" not in item
            continue
        y = item[f"y/{t}"]
        assert (f"x/{t}" in item) == (task.input != "rgb"), t
        if f"x/{t}" in item:
            assert item[f"x/{t}"].shape == (3, 32, 32) and item[f"x/{t}"].dtype == torch.float32
        if task.kind == "pixel":
            assert y.shape == (task.channels, 32, 32) and y.dtype == torch.float32, t
            assert y.min() >= -1.5 and y.max() <= 1.5, t
        elif task.kind in ("embedding", "classes"):
            assert y.shape == (32, 32) and y.dtype == torch.int64, t
        elif task.kind == "lowdim":
            assert y.shape == (task.channels,) and y.dtype == torch.float32, t
        if task.kind in ("pixel", "embedding", "classes"):
            m = item[f"m/{t}"]
            assert m.shape == (1, 32, 32) and m.dtype == torch.float32 and set(m.unique().tolist()) <= {0.0, 1.0}
    assert item["y/segment_semantic"].max() < TASKS["segment_semantic"].channels
    assert torch.isclose(item["y/class_object"].sum(), torch.tensor(1.0))
    assert item["y/class_scene"].sum() == 1
    n, valid = item["y/normal"], item["m/normal"][0] > 0
    assert torch.allclose(n.norm(dim=0)[valid], torch.ones(int(valid.sum())), atol=0.03)
    # deterministic load-time tasks, resizing
    assert torch.equal(ds[1]["x/denoising"], item["x/denoising"])
    small = TaskonomyDataset(root, split="val", tasks=["normal", "segment_semantic", "depth_zbuffer"], size=16)
    it = small[0]
    assert it["rgb"].shape == (3, 16, 16) and it["y/segment_semantic"].shape == (16, 16)
    assert it["m/depth_zbuffer"].shape == (1, 16, 16)


def test_splits_are_disjoint_by_building(root):
    b = {s: {k.building for k in TaskonomyDataset(root, split=s).keys} for s in ("train", "val", "test")}
    assert not (b["train"] & b["val"]) and not (b["train"] & b["test"]) and not (b["val"] & b["test"])


@pytest.mark.parametrize("task", TUPLE)
def test_tuple_items_follow_the_contract(root, task):
    tds = TupleDataset(root, split="train", task=task, seed=3)
    item = tds[0]
    V = TASKS[task].views
    assert item["views"].dtype == torch.float32 and item["views"].shape[:2] == (V, 3)
    if task == "jigsaw":
        assert item["index"].shape == (1,) and item["y"].dtype == torch.int64
        assert 0 <= int(item["y"]) < JIGSAW_PERMUTATIONS
    else:
        assert item["views"].shape[2:] == (32, 32) and item["index"].shape == (V,)
        assert item["index"].dtype == torch.int64
        if task == "point_matching":
            assert item["y"].dtype == torch.int64 and item["y"].shape == ()
        else:
            assert item["y"].shape == (TASKS[task].channels,) and item["y"].dtype == torch.float32
    again = TupleDataset(root, split="train", task=task, seed=3)
    assert again.tuples == tds.tuples


def test_tuples_mean_what_they_say(root):
    ds = TaskonomyDataset(root, split="train")
    fix = TupleDataset(root, split="train", task="fixated_pose", seed=0)
    for idx, _ in fix.tuples:
        a, b = (ds.keys[i] for i in idx)
        assert (a.building, a.point) == (b.building, b.point) and a.view != b.view
    pm = TupleDataset(root, split="train", task="point_matching", seed=0)
    labels = [lab for _, lab in pm.tuples]
    assert abs(sum(labels) - len(labels) / 2) <= 1, "balanced positives and negatives"
    for (i, j), lab in pm.tuples:
        same = (ds.keys[i].building, ds.keys[i].point) == (ds.keys[j].building, ds.keys[j].point)
        assert same == bool(lab)
    ego = TupleDataset(root, split="train", task="egomotion", seed=0)
    y = ego[0]["y"].numpy().astype(float)
    from taskonomy.data.geometry import pose_from_vector
    ab, bc, ac = (pose_from_vector(y[k:k + 6]) for k in (0, 6, 12))
    assert np.allclose(ab @ bc, ac, atol=1e-4)
    assert TupleDataset(root, split="train", task="fixated_pose", seed=1).tuples != fix.tuples


def test_jigsaw_uses_a_fixed_permutation_set(root):
    perms = jigsaw_permutations()
    assert perms.shape == (JIGSAW_PERMUTATIONS, 9)
    assert len({tuple(p) for p in perms}) == JIGSAW_PERMUTATIONS
    assert all(sorted(p) == list(range(9)) for p in perms)
    tds = TupleDataset(root, split="train", task="jigsaw", seed=0)
    item = tds[2]
    assert item["views"].shape[0] == 9 and item["views"].shape[2] == item["views"].shape[3]


def test_reads_the_older_building_domain_nesting(root, tmp_path):
    old = tmp_path / "old"
    b = DatasetIndex(root).buildings[0]
    for d in ("rgb", "normal", "depth_zbuffer", "class_scene", "point_info"):
        shutil.copytree(root / d / b, old / b / d)
    (old / "manifest.json").write_text('{"vocabulary": "synthetic"}')   # synthetic class files
    idx = DatasetIndex(old)
    assert idx.nesting == "building/domain" and idx.buildings == [b]
    ds = TaskonomyDataset(old, split="all", tasks=["normal", "depth_zbuffer", "class_scene"])
    new = TaskonomyDataset(root, split="all", tasks=["normal"])
    assert len(ds) == 9
    k = new.keys.index(ds.keys[4])
    assert torch.equal(ds[4]["y/normal"], new[k]["y/normal"])
    assert TupleDataset(old, split="all", task="fixated_pose")[0]["y"].shape == (6,)
    with pytest.raises(ValueError, match="split_file"):
        TaskonomyDataset(old, split="train")


def test_reads_the_older_release_folder_and_file_names(root, tmp_path):
    """e.g. <building>/depth/point_0_view_0_domain_depth.png, points/..._domain_fixatedpose.json,
    places/point_0_view_0.npy"""
    old = tmp_path / "legacy"
    b = DatasetIndex(root).buildings[1]
    renames = {"rgb": ("rgb", "rgb"), "depth_zbuffer": ("depth", "depth"), "point_info": ("points", "fixatedpose"),
               "class_scene": ("places", None)}
    for d, (folder, fd) in renames.items():
        (old / b / folder).mkdir(parents=True)
        for src in (root / d / b).iterdir():
            name = src.name.replace(f"_domain_{d}", f"_domain_{fd}" if fd else "")
            shutil.copy(src, old / b / folder / name)
    (old / "manifest.json").write_text('{"vocabulary": "synthetic"}')   # synthetic class files
    ds = TaskonomyDataset(old, split="all", tasks=["depth_zbuffer", "class_scene"])
    new = TaskonomyDataset(root, split="all", tasks=["depth_zbuffer", "class_scene"])
    k = new.keys.index(ds.keys[2])
    assert torch.equal(ds[2]["y/depth_zbuffer"], new[k]["y/depth_zbuffer"])
    assert torch.equal(ds[2]["y/class_scene"], new[k]["y/class_scene"])
    assert TupleDataset(old, split="all", task="egomotion")[0]["y"].shape == (18,)
    # the real release keeps vanishing points in point_info
    vp = TaskonomyDataset(old, split="all", tasks=["vanishing_point"])
    assert torch.allclose(vp[2]["y/vanishing_point"], TaskonomyDataset(root, split="all", tasks=["vanishing_point"])[k]["y/vanishing_point"], atol=1e-5)


def test_split_file_and_real_file_names(root, tmp_path):
    csv = tmp_path / "train_val_test_tiny.csv"
    b = DatasetIndex(root).buildings
    csv.write_text("id,train,val,test\n" + "".join(f"{x},{int(i < 2)},0,{int(i >= 2)}\n" for i, x in enumerate(b)))
    ds = TaskonomyDataset(root, split="test", tasks=["depth_zbuffer"], split_file=csv)
    assert {k.building for k in ds.keys} == set(b[2:])


def test_missing_or_corrupt_file_is_an_error_naming_the_path(root, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    ds = TaskonomyDataset(copy, split="train", tasks=["normal", "class_object"])
    k = ds.keys[0]
    bad = copy / "normal" / k.building / enc.filename(k.point, k.view, "normal")
    bad.write_bytes(b"not a png")
    with pytest.raises(enc.DataFileError, match=str(bad)):
        ds[0]
    gone = copy / "class_object" / k.building / enc.filename(k.point, k.view, "class_object")
    gone.unlink()
    ds2 = TaskonomyDataset(copy, split="train", tasks=["class_object"])
    with pytest.raises(enc.DataFileError, match=str(gone)):
        ds2[0]
    with pytest.raises(ValueError, match="TupleDataset"):
        TaskonomyDataset(copy, split="train", tasks=["fixated_pose"])


def test_missing_depth_is_masked(root, tmp_path):
    copy = tmp_path / "masked"
    shutil.copytree(root, copy)
    ds = TaskonomyDataset(copy, split="train", tasks=["depth_zbuffer", "normal"])
    k = ds.keys[0]
    path = copy / "depth_zbuffer" / k.building / enc.filename(k.point, k.view, "depth_zbuffer")
    raw = enc.read_file(path, "depth_zbuffer").astype(np.uint16)
    raw[:5] = enc.DEPTH_MISSING
    enc.write_png(path, raw, "I;16")
    item = ds[0]
    assert item["m/depth_zbuffer"][0, :5].sum() == 0 and item["m/depth_zbuffer"][0, 5:].min() == 1
    assert item["m/normal"][0, :5].sum() == 0


def test_an_exclusion_list_on_the_synthetic_data_keeps_its_splits_and_vocabulary(root, tmp_path, capsys):
    from taskonomy.data.select import select
    ds = TaskonomyDataset(root, split="train", tasks=["class_scene", "segment_semantic"])
    k = ds.keys[1]
    bad = tmp_path / "bad.txt"
    bad.write_text(f"# one view\nsegment_semantic/{k.building}/{enc.filename(k.point, k.view, 'segment_semantic')}\n")
    select(root, tmp_path / "sel", exclude=bad)
    sel = TaskonomyDataset(tmp_path / "sel", split="train", tasks=["class_scene", "segment_semantic"])
    assert f"skipping 1 of {len(ds)} views" in capsys.readouterr().err
    assert sel.index.vocabulary is enc.SYNTHETIC and sel.keys == [x for x in ds.keys if x != k]
    for i in (0, 1):
        a, b = sel[i], ds[ds.keys.index(sel.keys[i])]
        assert a.keys() == b.keys() and all(torch.equal(a[n], b[n]) for n in a if n != "index")
