"""The loader on the real release's encodings (tests/release_fixture.py, written from
../shared/REALDATA.md without the project's writers), and the known-bad-file exclusion list
(`taskonomy data check --exclude-out`, `taskonomy data select --exclude`, data.exclude)."""
import numpy as np
import pytest
import torch

from release_fixture import (BEDROOM_AMONG_63, NESTINGS, PLACES_AIRFIELD, PLACES_BEDROOM, euler_sxyz_to_matrix,
                             write_release, write_split_csv)
from taskonomy.data import encodings as enc
from taskonomy.data import geometry
from taskonomy.data.check import find_problems
from taskonomy.data.cli import main as data_cli
from taskonomy.data.dataset import DatasetIndex, TaskonomyDataset, TupleDataset, camera_from_info
from taskonomy.data.select import read_exclude_list, select

TASKS = ["class_object", "class_scene", "segment_semantic", "depth_zbuffer", "normal", "principal_curvature"]


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """{nesting: (root, truth)}: the same views written in each of the three nestings."""
    base = tmp_path_factory.mktemp("release")
    return {n: (base / n.replace("/", "-"), write_release(base / n.replace("/", "-"), nesting=n)) for n in NESTINGS}


def _item(ds, key):
    return ds[ds.keys.index(key)]


def test_every_nesting_is_found_and_read_alike(release):
    items = {}
    for nesting, (root, truth) in release.items():
        idx = DatasetIndex(root)
        assert idx.nesting == nesting and idx.vocabulary is enc.RELEASE
        assert [(k.building, k.point, k.view) for k in idx.keys] == sorted(truth)
        ds = TaskonomyDataset(root, split="all", tasks=TASKS)
        items[nesting] = ds[4]
    first = items.pop("domain/building")
    for other in items.values():
        assert first.keys() == other.keys()
        assert all(torch.equal(first[k], other[k]) for k in first)


def test_class_object_is_the_softmax_of_the_1000_logits(release):
    root, truth = release["domain/building"]
    ds = TaskonomyDataset(root, split="all", tasks=["class_object"])
    for i in (0, 7):
        k = ds.keys[i]
        logits = truth[(k.building, k.point, k.view)]["logits"].astype(np.float64)
        want = np.exp(logits) / np.exp(logits).sum()
        y = ds[i]["y/class_object"]
        assert y.shape == (1000,) and y.dtype == torch.float32
        assert np.allclose(y.numpy(), want, rtol=1e-5, atol=1e-7)
        assert int(y.argmax()) == int(logits.argmax())


def test_class_scene_keeps_the_63_indoor_classes_renormalised(release):
    root, truth = release["domain/building"]
    ds = TaskonomyDataset(root, split="all", tasks=["class_scene"])
    k = ds.keys[3]
    places = truth[(k.building, k.point, k.view)]["places"].astype(np.float64)
    y = ds[3]["y/class_scene"].numpy()
    assert y.shape == (63,) and abs(y.sum() - 1) < 1e-5
    assert len(enc.PLACES_INDOOR) == 63 and PLACES_AIRFIELD not in enc.PLACES_INDOOR
    indoor = places[list(enc.PLACES_INDOOR)].sum()
    assert indoor < 0.95 * places.sum()              # the outdoor mass (airfield) was dropped
    assert np.isclose(y[BEDROOM_AMONG_63], places[PLACES_BEDROOM] / indoor, rtol=1e-5)
    assert int(y.argmax()) == BEDROOM_AMONG_63


def test_segment_semantic_has_18_labels_and_label_0_is_masked(release, tmp_path):
    root, truth = release["domain/building"]
    ds = TaskonomyDataset(root, split="all", tasks=["segment_semantic", "depth_zbuffer"])
    k = ds.keys[5]
    labels = truth[(k.building, k.point, k.view)]["labels"]
    item = ds[5]
    assert torch.equal(item["y/segment_semantic"], torch.from_numpy(labels.astype(np.int64)))
    assert torch.equal(item["m/segment_semantic"][0], torch.from_numpy((labels != 0).astype(np.float32)))
    assert item["m/segment_semantic"][0, 0, :4].tolist() == [0, 1, 1, 0]   # labels 0, 1, 17, 0
    # a label beyond the release's 18 is a bad file, named
    bad = ds.index.path(k, "segment_semantic")
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    bad = copy / bad.relative_to(root)
    from PIL import Image
    Image.fromarray(np.full_like(labels, 18)).save(bad)
    with pytest.raises(enc.DataFileError, match=str(bad)):
        TaskonomyDataset(copy, split="all", tasks=["segment_semantic"])[5]


def test_depth_normal_and_curvature_decode_to_the_release_values(release):
    root, truth = release["building/domain"]
    ds = TaskonomyDataset(root, split="all", tasks=["depth_zbuffer", "normal", "principal_curvature"])
    k = ds.keys[2]
    depth = truth[(k.building, k.point, k.view)]["depth"].astype(np.float64)
    item = ds[2]
    valid = depth != 65535
    assert torch.equal(item["m/depth_zbuffer"][0], torch.from_numpy(valid.astype(np.float32)))
    metres = np.expm1(item["y/depth_zbuffer"][0].double().numpy() * np.log(2.0 ** 16))
    assert np.allclose(metres[valid], depth[valid], rtol=1e-5)        # log1p of the 1/512 m counts
    assert np.allclose(item["y/normal"][:, valid].T.numpy(), [0, 0, 1], atol=1e-6)
    assert float(item["y/principal_curvature"].abs().max()) == 0.0


def test_point_info_rotation_is_xyz_euler_sxyz(release):
    root, truth = release["domain/dataset/building"]
    idx = DatasetIndex(root)
    for k in idx.keys[:4]:
        t = truth[(k.building, k.point, k.view)]
        info = idx.read(k, "point_info")
        assert np.allclose(euler_sxyz_to_matrix(*info["camera_rotation_final"]), t["R_blender"], atol=1e-9)
        eye, R, fov = camera_from_info(info)
        # OpenCV convention: z forward (towards the fixated point), y down
        ahead = (t["point"] - t["eye"]) / np.linalg.norm(t["point"] - t["eye"])
        assert np.allclose(R[:, 2], ahead, atol=1e-9) and R[2, 1] < 0
        assert np.allclose(R, t["R_blender"] @ np.diag([1.0, -1.0, -1.0]), atol=1e-9)
    ds = TupleDataset(root, split="all", task="fixated_pose", seed=0)
    (a, b), _ = ds.tuples[0]
    ta, tb = (truth[(ds.keys[i].building, ds.keys[i].point, ds.keys[i].view)] for i in (a, b))
    flip = np.diag([1.0, -1.0, -1.0])
    want = geometry.pose_vector(geometry.relative_pose(ta["R_blender"] @ flip, ta["eye"], tb["R_blender"] @ flip, tb["eye"]))
    assert np.allclose(ds[0]["y"].numpy(), want, atol=1e-5)


def test_check_passes_on_the_release_and_lists_bad_files(release, tmp_path, capsys):
    root, truth = release["domain/dataset/building"]
    assert find_problems(root, progress=False) == []
    import shutil
    copy = tmp_path / "omni"
    shutil.copytree(root, copy)
    corrupt = copy / "normal/taskonomy/beechwood/point_1_view_2_domain_normal.png"
    corrupt.write_bytes(b"not a png")
    gone = copy / "class_object/taskonomy/allensville/point_0_view_1_domain_class_object.npy"
    gone.unlink()
    no_rgb = copy / "rgb/taskonomy/coffeen/point_1_view_0_domain_rgb.png"
    no_rgb.unlink()
    short = copy / "class_scene/taskonomy/coffeen/point_0_view_0_domain_class_scene.npy"
    np.save(short, np.ones(64, np.float32) / 64)
    bad_txt = tmp_path / "bad.txt"
    assert data_cli(["check", str(copy), "--quiet", "--exclude-out", str(bad_txt)]) == 1
    err = capsys.readouterr().err
    for f in (corrupt, gone, no_rgb, short):
        assert str(f) in err
    listed = [ln for ln in bad_txt.read_text().splitlines() if not ln.startswith("#")]
    assert listed == sorted(str(f.relative_to(copy)) for f in (corrupt, gone, no_rgb, short))
    # the exclusion list -> exactly those views (a missing rgb file's view is not indexed anyway)
    views = read_exclude_list(bad_txt, DatasetIndex(copy))
    assert [(k.building, k.point, k.view) for k in views] == [
        ("allensville", 0, 1), ("beechwood", 1, 2), ("coffeen", 0, 0), ("coffeen", 1, 0)]


def test_exclusion_list_skips_exactly_those_views_and_says_how_many(release, tmp_path, capsys):
    root, truth = release["domain/building"]
    import shutil
    copy = tmp_path / "data"
    shutil.copytree(root, copy)
    corrupt = copy / "depth_zbuffer/beechwood/point_0_view_1_domain_depth_zbuffer.png"
    corrupt.write_bytes(b"\x89PNG broken")
    csv = write_split_csv(tmp_path / "train_val_test_x.csv")
    tasks = ["depth_zbuffer", "class_scene"]
    # without an exclusion list the bad file stops the job, naming it
    sel = tmp_path / "sel"
    select(copy, sel, split_file=csv)
    plain = TaskonomyDataset(sel, split="val", tasks=tasks)
    assert len(plain) == 6
    with pytest.raises(enc.DataFileError, match=str(corrupt)):
        [plain[i] for i in range(len(plain))]
    # with it: that view (and only it) is skipped, the job says so
    bad_txt = tmp_path / "bad.txt"
    assert data_cli(["check", str(copy), "--quiet", "--exclude-out", str(bad_txt)]) == 1
    capsys.readouterr()
    assert data_cli(["select", str(copy), "--out", str(sel), "--split-file", str(csv),
                     "--exclude", str(bad_txt), "--size", "8"]) == 0
    assert "1 views excluded" in capsys.readouterr().out
    val = TaskonomyDataset(sel, split="val", tasks=tasks)
    assert "split 'val': skipping 1 of 6 views" in capsys.readouterr().err
    assert [(k.point, k.view) for k in plain.keys if k not in val.keys] == [(0, 1)]
    items = [val[i] for i in range(len(val))]
    assert items[0]["rgb"].shape == (3, 8, 8) and items[0]["y/depth_zbuffer"].shape == (1, 8, 8)
    assert len(TaskonomyDataset(sel, split="train", tasks=tasks)) == 6    # other splits: untouched
    assert "skipping" not in capsys.readouterr().err
    # a line that is no dataset file names the list and the line
    bad_txt.write_text("# ok\nrgb/beechwood/notes.txt\n")
    with pytest.raises(ValueError, match=r"bad\.txt, line 2"):
        select(copy, sel, split_file=csv, exclude=bad_txt)


def test_select_needs_splits_for_a_real_folder(release, tmp_path, capsys):
    root, _ = release["building/domain"]
    assert data_cli(["select", str(root), "--out", str(tmp_path / "s")]) == 2
    assert "split file" in capsys.readouterr().err


def test_contact_sheet_of_the_release(release, tmp_path):
    from taskonomy.data.sheet import make_sheet
    root, _ = release["domain/dataset/building"]
    out = make_sheet(root, tmp_path / "sheet.png", n_views=2)
    assert out.stat().st_size > 0


def test_class_tasks_train_and_transfer_at_the_release_widths(release, tmp_path):
    """class_object (1000), class_scene (63 indoor) and segment_semantic (18) networks, their
    average guess and a transfer to them, on a selection of the release fixture: the widths
    come from the folder's vocabulary, not from the synthetic renderer's classes."""
    from pathlib import Path

    from taskonomy.baselines import run_average
    from taskonomy.config import load_config
    from taskonomy.encode import encode_split, load_task_network, save_npy
    from taskonomy.settings import task_settings, transfer_settings
    from taskonomy.labels import save_labels
    from taskonomy.stagedata import load_targets, output_channels
    from taskonomy.tasks import TASKS as REGISTRY
    from taskonomy.train import train_task
    from taskonomy.transfer import run_transfer

    root, _ = release["domain/building"]
    sel = tmp_path / "sel"
    select(root, sel, split_file=write_split_csv(tmp_path / "train_val_test_x.csv"))
    cfg = load_config(Path(__file__).resolve().parents[1] / "config.yaml")
    cfg["train"]["epochs"] = 1
    cfg["transfer"].update(sizes={"tiny": 4}, heldout=2, epochs=1)
    widths = {"class_object": 1000, "class_scene": 63, "segment_semantic": 18}
    assert {t: REGISTRY[t].channels for t in widths} != widths      # the synthetic classes differ
    train_task(task_settings(cfg, "random"), str(sel), tmp_path / "random")
    for split in ("val", "test"):
        save_npy(tmp_path / "reps/random" / f"{split}.npy",
                 encode_split(tmp_path / "random/model.pt", str(sel), split, device="cpu"))
    for task, k in widths.items():
        assert output_channels(sel, task) == k
        m = train_task(task_settings(cfg, task), str(sel), tmp_path / task)
        assert m["n_test"] == 6 and np.isfinite(m["test"]["loss"])
        net, _ = load_task_network(tmp_path / task / "model.pt")
        out = net(torch.rand(2, 3, 16, 16))
        assert out.shape[1] == k
        avg = run_average(task, str(sel), tmp_path / "avg" / task)
        assert np.isfinite(avg["test"]["loss"])
        for split in ("val", "test"):
            tg = load_targets(str(sel), split, task)
            assert int(tg["channels"]) == k
            (tmp_path / "targets" / task).mkdir(parents=True, exist_ok=True)
            save_labels(tmp_path / "targets" / task / f"{split}.npz", tg)
        tr = run_transfer(transfer_settings(cfg, task, "tiny"), ["random"], tmp_path / "reps",
                          tmp_path / "targets", tmp_path / "transfers" / task)
        assert np.isfinite(tr["test"]["loss"])
