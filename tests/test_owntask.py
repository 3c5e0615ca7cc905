"""Your own task (config `own_tasks`, taskonomy.owntask) and the all-for-one scenario
(taskonomy.evaluation.allforone, rules/novel.smk).

Declarations are checked when the workflow is built (the error names the config key); labels
and images by the check step before anything trains (the error names the file or CSV line).
The end-to-end test declares a CSV task (the mean colour of the smoke run's images, new
representations encoded from the images) and a Taskonomy-layout task (a class per view in a
new domain folder of the data, read against the run's representation caches) on top of the
shared smoke run and builds `snakemake novel`: ranking, Gain and the BIP's policy.
"""
import csv
import io
import json

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from PIL import Image

from conftest import SMOKE, copy_workdir, snakemake
from taskonomy import owntask
from taskonomy.config import ConfigError, validate
from taskonomy.data.synth import SynthSettings, synthesize
from taskonomy.labels import load_labels
from taskonomy.tasks import TASKS
from taskonomy.workflow import Workflow


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A tiny dataset: 3 buildings (one per split), 2 points, 1 view, 16 px."""
    out = tmp_path_factory.mktemp("synth")
    synthesize(SynthSettings(out=str(out), buildings=3, points=2, views=1, size=16, seed=3, workers=1),
               progress=False)
    return out


def config(root, *tasks, **section):
    return validate({"tasks": ["normal", "random"], "data": {"root": str(root)},
                     "own_tasks": {"tasks": list(tasks), **section}})


def rgb_files(root):
    return sorted((root / "rgb").rglob("*_domain_rgb.png"))


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def mean_colour_csv(root, path):
    """image (relative to root), label_0..2 = the image's mean colour in [0, 1]."""
    rows = [[p.relative_to(root).as_posix(), *np.asarray(Image.open(p), np.float32).mean((0, 1)) / 255]
            for p in rgb_files(root)]
    return write_csv(path, ["image", "label_0", "label_1", "label_2"], rows)


# ---------------------------------------------------------------- declarations (config keys)
def test_declaration_defaults_and_registration(root, tmp_path):
    csv_path = mean_colour_csv(root, tmp_path / "colour.csv")
    cfg = config(root, {"name": "colour", "kind": "vector", "channels": 3, "csv": str(csv_path),
                        "images": str(root)})
    t, = owntask.declared(cfg)
    assert (t.loss, t.n, t.source) == ("l1", None, "csv")
    assert t.task().kind == "lowdim" and t.task().channels == 3
    with owntask.registered([t]):
        assert TASKS["colour"].loss == "l1"
    assert "colour" not in TASKS
    wf = Workflow(cfg)
    assert wf.novel_targets() == [f"results/default/own/colour/novel.{x}" for x in ("json", "png")]
    assert set(wf.novel_targets()) <= set(wf.final_targets())
    assert wf.summary_inputs(None)["own"] == ["results/default/own/colour/novel.json"]
    assert wf.own_transfer_inputs(type("W", (), {"own": "colour"}))["reps"][0] == \
        "results/default/own/colour/reps/normal/val.npy"


@pytest.mark.parametrize("item, key, words", [
    ({"name": "normal", "kind": "pixel", "channels": 3}, "own_tasks.tasks[0].name", "already a task"),
    ({"name": "rgb2sfnorm", "kind": "pixel", "channels": 3}, "own_tasks.tasks[0].name", "already a task"),
    ({"name": "self", "kind": "vector", "channels": 3}, "own_tasks.tasks[0].name", "reserved"),
    ({"name": "edges", "kind": "pixel", "channels": 1, "loss": "ce"}, "own_tasks.tasks[0].loss", "l1 | l2"),
    ({"name": "room", "kind": "image_classes", "channels": 1}, "own_tasks.tasks[0].channels", "2 classes"),
    ({"name": "room", "kind": "vector", "channels": 2, "csv": "nope/labels.csv"}, "own_tasks.tasks[0].csv",
     "nope/labels.csv not found"),
    ({"name": "floor", "kind": "pixel_classes", "channels": 2}, "own_tasks.tasks[0]", "no domain folder"),
])
def test_bad_declaration_names_the_key(root, item, key, words):
    with pytest.raises(owntask.OwnTaskError, match="config key") as e:
        Workflow(config(root, item))
    assert f"'{key}" in str(e.value) and words in str(e.value)


def test_csv_header_is_checked_with_the_declaration(root, tmp_path):
    path = write_csv(tmp_path / "labels.csv", ["image", "label"], [["a.png", 1]])
    with pytest.raises(owntask.OwnTaskError, match=r"config key 'own_tasks.tasks\[0\].csv': .*labels.csv: "
                       r"no column\(s\) label_0, label_1"):
        owntask.declared(config(root, {"name": "pose", "kind": "vector", "channels": 2, "csv": str(path)}))


def test_check_command_names_the_file(root, tmp_path, capsys):
    path = write_csv(tmp_path / "labels.csv", ["image", "label"], [["rgb/none.png", 1]])
    cfg = tmp_path / "config.yaml"

    def declare(**task):
        cfg.write_text(yaml.safe_dump({"tasks": ["normal"], "data": {"root": str(root)}, "own_tasks": {
            "tasks": [{"name": "kind_of_room", "csv": str(path), **task}]}}))
        return owntask.main(["check", "--config", str(cfg)])

    assert declare(kind="image_classes", channels=3) == 1
    assert f"{path}:2: image {tmp_path / 'rgb' / 'none.png'} not found" in capsys.readouterr().err
    mean_colour_csv(root, path)
    assert declare(kind="vector", channels=3, images=str(root)) == 0
    assert "kind_of_room: ok (vector, 3 channel(s), csv)" in capsys.readouterr().out


def test_schema_rejects_unknown_kind_and_keys_naming_them(root):
    with pytest.raises(ConfigError, match=r"own_tasks\.tasks\.0\.kind"):
        config(root, {"name": "x", "kind": "regression", "channels": 1})
    with pytest.raises(ConfigError, match=r"own_tasks\.tasks\.0"):
        config(root, {"name": "x", "kind": "vector", "channels": 1, "labels": "a.csv"})


# ---------------------------------------------------------------- the check (files)
def check_csv(root, path, kind="vector", channels=3, images=None, **kw):
    t, = owntask.declared(config(root, {"name": "mine", "kind": kind, "channels": channels, "csv": str(path),
                                        "images": str(images or root), **kw}))
    return owntask.check(t, root, ("val", "test"), seed=0, test_share=0.25,
                         out_dir=path.parent / "out")


def test_csv_check_writes_the_caches(root, tmp_path):
    path = mean_colour_csv(root, tmp_path / "colour.csv")
    s = check_csv(root, path)
    n = len(rgb_files(root))
    assert s["images"] == {"val": n - round(n / 4), "test": round(n / 4)} and s["label_shape"] == [3]
    tg = load_labels(tmp_path / "out" / "targets" / "mine" / "val.npz")
    im = torch.load(tmp_path / "out" / "images" / "val.pt", weights_only=True)
    assert tg["y"].shape == (s["images"]["val"], 3) and tg["views"].shape == (s["images"]["val"], 1)
    assert im["x"].shape == (s["images"]["val"], 3, 16, 16) and torch.equal(im["image"], tg["image"])
    # each label is its image's mean colour: the cache keeps images and labels together
    assert torch.allclose((im["x"].float().mean((2, 3)) + 1) / 2, tg["y"], atol=0.01)
    # a split column decides the test images
    rows = list(csv.reader(open(path)))
    write_csv(path, rows[0] + ["split"], [r + ["test" if i < 2 else "train"] for i, r in enumerate(rows[1:])])
    assert check_csv(root, path)["images"]["test"] == 2


def test_csv_check_names_the_bad_file_or_row(root, tmp_path):
    imgs = rgb_files(root)
    rel = imgs[0].relative_to(root).as_posix()
    bad_png = tmp_path / "broken.png"
    bad_png.write_bytes(b"not a png")
    cases = [
        (["image", "label"], [[rel, 0], ["rgb/nowhere/x.png", 1]], "image_classes", 2,
         r"\.csv:3: image .*nowhere/x\.png not found"),
        (["image", "label"], [[rel, 5]], "image_classes", 3, r"\.csv:2: label: class 5 is outside 0\.\.2"),
        (["image", "label"], [[str(bad_png), 1]], "image_classes", 2, r"\.csv:2: corrupt image: .*broken\.png"),
        (["image", "label_0"], [[rel, 1.0]], "vector", 3, r"no column\(s\) label_1, label_2"),
        (["image", "label_0", "label_1", "label_2"], [[rel, 1, "x", 3]], "vector", 3, r"\.csv:2: bad label"),
    ]
    for header, rows, kind, channels, pattern in cases:
        path = write_csv(tmp_path / "labels.csv", header, rows)
        with pytest.raises(owntask.OwnTaskError, match=pattern):
            check_csv(root, path, kind, channels)
    # pixel labels: a label image of the wrong shape, of the wrong size, missing
    np.save(tmp_path / "two.npy", np.zeros((16, 16, 2), np.float32))
    np.save(tmp_path / "small.npy", np.zeros((8, 8), np.float32))
    for label, pattern in (("two.npy", r"two\.npy has shape \(16, 16, 2\).*H x W x 1"),
                           ("small.npy", r"small\.npy is \(8, 8\) pixels but image .* \(16, 16\)"),
                           ("gone.png", r"\.csv:2: missing label file: .*gone\.png")):
        path = write_csv(tmp_path / "labels.csv", ["image", "label"], [[str(imgs[0]), str(tmp_path / label)]])
        with pytest.raises(owntask.OwnTaskError, match=pattern):
            check_csv(root, path, "pixel", 1)


def domain_file(root, rgb, name, ext):
    """The label file of a view in a new domain folder (Taskonomy layout)."""
    building = rgb.parent.name
    out = root / name / building / rgb.name.replace("_domain_rgb.png", f"_domain_{name}.{ext}")
    out.parent.mkdir(parents=True, exist_ok=True)
    return out


def test_taskonomy_layout_domain_check(root):
    name = "bright"
    for p in rgb_files(root):
        np.save(domain_file(root, p, name, "npy"), np.int64(np.asarray(Image.open(p)).mean() > 100))
    t, = owntask.declared(config(root, {"name": name, "kind": "image_classes", "channels": 2}))
    s = owntask.check(t, root, ("val", "test"))
    assert s["source"] == "taskonomy" and sum(s["class_counts"]) == s["images"]["val"] > 0
    # the labels index the views of each split in the run's order (the representation caches')
    victim = domain_file(root, rgb_files(root)[-1], name, "npy")
    np.save(victim, np.zeros(4))
    with pytest.raises(owntask.OwnTaskError, match=r"shape \(4,\).*one integer"):
        owntask.check(t, root, ("val", "test", "train"))
    victim.unlink()
    with pytest.raises(owntask.OwnTaskError, match=f"missing label file {victim}"):
        owntask.check(t, root, ("val", "test", "train"))


def test_csv_images_are_encoded_as_the_runs_caches(root, tmp_path):
    """A CSV naming the run's own views gets, from each source, the representations the run
    caches for them: our encoders' (rule encode) and a released encoder's (rule
    released_encoder, 256 px input pooled to the run's grid)."""
    from taskonomy import encode, weights
    from taskonomy.data.dataset import TaskonomyDataset
    from taskonomy.evaluation import allforone
    from taskonomy.models import create_model
    from taskonomy.settings import task_settings
    from taskonomy.train import train_task
    cfg = config(root)
    train_task(task_settings(cfg, "random"), str(root), tmp_path / "random")        # a frozen random encoder
    torch.manual_seed(0)
    released = weights.write_released(create_model("resnet50_released").state_dict(), "normal", tmp_path / "w")
    model = {k: cfg["model"][k] for k in ("encoder", "width", "stride")}
    rows = [[ds.index.path(k, "rgb").relative_to(root).as_posix(), 0, role]
            for sp, role in (("val", "train"), ("test", "test")) for ds in [TaskonomyDataset(root, sp)] for k in ds.keys]
    path = write_csv(tmp_path / "labels.csv", ["image", "label", "split"], rows)
    t, = owntask.declared(config(root, {"name": "mine", "kind": "image_classes", "channels": 2, "csv": str(path),
                                        "images": str(root)}))
    owntask.check(t, root, ("val", "test"), out_dir=tmp_path / "own")
    allforone.main(["reps", "--spec", json.dumps(t.to_dict()), "--sources", "random", "normal", "--models",
                    str(tmp_path / "random" / "model.pt"), str(released), "--released", "normal",
                    "--model", json.dumps(model), "--images", str(tmp_path / "own" / "images"),
                    "--splits", "val", "--out-root", str(tmp_path / "own" / "reps"), "--device", "cpu"])
    for sp in ("val",):         # (a ResNet-50 at 256 px per image: one split is enough)
        ours = encode.encode_split(tmp_path / "random" / "model.pt", root, sp, device="cpu")
        assert np.array_equal(np.load(tmp_path / "own" / "reps" / "random" / f"{sp}.npy"), ours)
        run = weights.encode_split(released, root, sp, "normal", model, device="cpu").numpy().astype(np.float16)
        own = np.load(tmp_path / "own" / "reps" / "normal" / f"{sp}.npy")
        assert own.shape == run.shape == (2, 8, 2, 2) and np.array_equal(own, run)


def test_report_ranks_sources_and_the_bip_serves_the_task_per_budget(root, tmp_path):
    """own_report on an own task's Stage III tables: the ranking, Gain, the best transfer per
    max order and the BIP's policy per budget; summary.md's section from it."""
    from taskonomy.ahp import table_text
    from taskonomy.evaluation.allforone import own_report
    from taskonomy.supervision import bip
    from taskonomy.supervision.summary import render
    from taskonomy.supervision.tables import TableSet, read_table
    rows = {"normal": (0.30, 0.8), "reshading": (0.25, 0.7), "random": (0.05, 0.1),
            "normal+reshading": (0.40, 0.9)}
    for name, col in (("aff.csv", 0), ("gain.csv", 1)):
        (tmp_path / name).write_text(table_text(("mine", s.replace("+", " "), s.count("+") + 1, v[col])
                                                for s, v in rows.items()))
    t, = owntask.declared(config(root, {"name": "mine", "kind": "vector", "channels": 2,
                                        "csv": str(write_csv(tmp_path / "l.csv", ["image", "label_0", "label_1"], []))}))
    with owntask.registered([t]):
        tables = TableSet("own task mine", read_table(tmp_path / "aff.csv"), gain=read_table(tmp_path / "gain.csv"))
        rep = own_report("mine", tables, ["normal", "reshading", "random"], [1, 2], [1, 2])
    assert [r["sources"] for r in rep["ranking"]] == [["normal", "reshading"], ["normal"], ["reshading"], ["random"]]
    assert rep["ranking"][0]["gain"] == 0.9
    assert [(p["budget"], p["supervised"], p["sources"], p["gain"]) for p in rep["policies"]] == [
        (1, ["normal"], ["normal"], 0.8), (2, ["normal", "reshading"], ["normal", "reshading"], 0.9)]
    assert [(r["max_order"], r["sources"]) for r in rep["all_for_one"]] == [(1, "normal"), (2, "normal reshading")]
    pol = bip.solve("paper", budget=4, max_order=1).to_dict()
    sig = {"settings": {"budget": 4, "max_order": 1, "n_random": 10, "seed": 0}, "scores": {}}
    text = render("r", "16k", pol, sig, [], own=[(rep, "results/r/own/mine/novel.json")])
    assert text.index("recommended policy") < text.index("## Your own tasks") < text.index("## Figures")
    assert "| 1 | normal + reshading | 2 | 0.400 | 0.900 |" in text and "| 2 | normal, reshading | normal + reshading | 0.900 |" in text


def test_ahp_without_self_has_gain_and_no_quality(tmp_path):
    from taskonomy.ahp import compute_target
    paths = {}
    for name, loss in (("a", [1, 2, 3]), ("b", [4, 3, 6]), ("scratch", [3, 1, 5])):
        paths[name] = tmp_path / name / "losses.parquet"
        paths[name].parent.mkdir()
        pd.DataFrame({"image": [0, 1, 2], "loss": loss}).to_parquet(paths[name])
    res = compute_target("mine", [paths["a"], paths["b"]], None, paths["scratch"])
    assert res.sources == ["a", "b"] and res.quality is None
    assert res.gain.tolist() == pytest.approx([2 / 3, 0.0]) and res.affinity[0] > res.affinity[1]


# ---------------------------------------------------------------- end to end (Snakemake)
@pytest.mark.slow
def test_novel_target_end_to_end(smoke_run, tmp_path):
    """Two own tasks on the smoke run: ranking, Gain and policy of each, nothing of the run redone."""
    work = copy_workdir(smoke_run[0], tmp_path / "work")
    data = work / "data" / "synth"
    (work / "own").mkdir()
    mean_colour_csv(data, work / "own" / "colour.csv")
    brightness = {p: np.asarray(Image.open(p)).mean() for p in rgb_files(data)}
    for p, v in brightness.items():     # a class per view in a new domain folder of the data
        np.save(domain_file(data, p, "bright", "npy"), np.int64(v > np.median(list(brightness.values()))))
    cfg = yaml.safe_load(SMOKE.read_text())
    cfg["own_tasks"] = {"budgets": [1, 2], "tasks": [
        {"name": "colour", "kind": "vector", "channels": 3, "csv": "own/colour.csv", "images": "data/synth", "n": 24},
        {"name": "bright", "kind": "image_classes", "channels": 2, "n": 24}]}
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    dry = snakemake(work, "stages_1_2", "-n", config=cfg_path)      # declaring tasks reruns nothing
    assert dry.returncode == 0 and "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-2000:]
    res = snakemake(work, "novel", config=cfg_path)
    assert res.returncode == 0, res.stderr[-4000:]
    own = work / "results" / "smoke" / "own"
    sources = cfg["tasks"]
    for name in ("colour", "bright"):
        rep = json.loads((own / name / "novel.json").read_text())
        ranked = {"+".join(r["sources"]) for r in rep["ranking"]}
        assert set(sources) <= ranked and any(r["order"] == 2 for r in rep["ranking"])
        assert sum(r["affinity"] for r in rep["ranking"]) == pytest.approx(1.0)
        assert all(0 <= r["gain"] <= 1 for r in rep["ranking"])
        assert [p["budget"] for p in rep["policies"]] == [1, 2] and set(rep["images"]) == {"training", "test"}
        p1, p2 = rep["policies"]
        assert len(p1["supervised"]) == 1 and p1["sources"] == p1["supervised"]
        assert p2["affinity"] >= p1["affinity"] and p2["affinity"] == max(r["affinity"] for r in rep["ranking"])
        assert [r["max_order"] for r in rep["all_for_one"]] == [1, 2]
        assert (own / name / "novel.png").stat().st_size > 0
        # Gain: the win rate against the network trained from scratch on the same images
        scratch = pd.read_parquet(own / name / "scratch" / "losses.parquet")
        for src in sources:
            tr = pd.read_parquet(own / name / "transfers" / src / "losses.parquet")
            assert tr["image"].tolist() == scratch["image"].tolist()
            win = (tr["loss"] < scratch["loss"]).mean() + 0.5 * (tr["loss"] == scratch["loss"]).mean()
            assert next(r["gain"] for r in rep["ranking"] if r["sources"] == [src]) == pytest.approx(win)
        assert json.loads((own / name / "beam.json").read_text())["n"] == 24
        assert json.loads((own / name / "scratch" / "metrics.json").read_text())["n_train"] == 24
    # the CSV task's representations are its own; the domain task read the run's caches
    assert (own / "colour" / "reps" / "normal" / "val.npy").exists() and not (own / "bright" / "reps").exists()
    assert json.loads((own / "bright" / "check.json").read_text())["class_counts"][0] > 0
    # every file the jobs wrote is a declared output of one of them, and up to date
    out = snakemake(work, "novel", "--detailed-summary", config=cfg_path)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = {r["output_file"]: r for r in csv.DictReader(io.StringIO(out.stdout[out.stdout.index("output_file\t"):]),
                                                         delimiter="\t")}
    for p in own.rglob("*"):
        if p.is_file():
            row = rows.get(p.relative_to(work).as_posix())
            assert row is not None and row["rule"].startswith("own_task_") and row["plan"] == "no update", p
    from taskonomy.supervision.summary import own_task_lines
    text = "\n".join(own_task_lines([rep], ["results/smoke/own/bright/novel.json"]))
    assert "**bright** (image_classes, 2 channel(s)" in text and "| 2 |" in text
