"""``taskonomy solve | sweep | tree | affinity-plot`` and the paper_* Snakemake rules."""
from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from taskonomy.cli import main as taskonomy
from taskonomy.config import REPO_ROOT, load_config
from taskonomy.supervision import bip
from taskonomy.supervision.tables import load, write_table


def run_json(capsys, *argv):
    assert taskonomy(["solve", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_solve_json(capsys):
    d = run_json(capsys, "--affinities", "paper-16k", "--budget", "6", "--max-order", "5")
    assert {"objective", "status", "supervised", "targets"} <= set(d)
    assert d["status"] == "optimal" and len(d["targets"]) == 22 and len(d["supervised"]) <= 6
    direct = bip.solve("paper-16k", budget=6, max_order=5)
    assert d["objective"] == pytest.approx(direct.objective)
    assert d["supervised"] == list(direct.supervised)
    for t, c in d["targets"].items():
        assert {"sources", "value", "gain", "quality"} <= set(c)
        needs = [t] if c["sources"] == ["self"] else c["sources"]
        assert set(needs) <= set(d["supervised"])
    assert d["query"]["budget"] == 6 and d["query"]["metric"] == "sqrt_affinity"


def test_both_spellings(capsys):
    a = run_json(capsys, "--targets", "rgb2sfnorm", "rgb2depth", "class_1000", "--budget", "1",
                 "--importance", "rgb2sfnorm=2", "--cost", "reshade=0.5")
    b = run_json(capsys, "--targets", "normal", "depth_zbuffer", "class-object", "--budget", "1",
                 "--importance", "normal=2", "--cost", "reshading=0.5")
    a.pop("solve_time_s"), b.pop("solve_time_s")
    assert a == b
    assert set(a["targets"]) == {"normal", "depth_zbuffer", "class_object"}
    assert a["targets"]["normal"]["importance"] == 2


def test_text_output(capsys):
    assert taskonomy(["solve", "--budget", "2", "--max-order", "1"]) == 0
    out = capsys.readouterr().out
    assert "status optimal" in out and "supervised (2, cost 2)" in out
    assert re.search(r"^normal\s+\(supervised\)", out, re.M)


@pytest.mark.parametrize("argv, match", [
    (["--targets", "normal", "sfnorm"], r"unknown task\(s\) 'sfnorm'; valid tasks .*normal \(rgb2sfnorm\)"),
    (["--budget", "0"], r"infeasible query: these targets cannot be served:\n  autoencoding"),
    (["--importance", "normal"], "--importance expects task=number"),
    (["--cost", "normal=x"], "is not a number"),
    (["--affinities", "nope.csv"], "unknown affinity table 'nope.csv'"),
    (["--targets", "jigsaw"], "source-only task"),
])
def test_errors(capsys, argv, match):
    assert taskonomy(["solve", *argv]) == 2
    err = capsys.readouterr().err
    assert re.search(match, err), err


def test_out_and_plot(tmp_path, capsys):
    out, png = tmp_path / "t" / "6_5.json", tmp_path / "t" / "6_5.png"
    assert taskonomy(["solve", "--out", str(out), "--plot", str(png)]) == 0
    capsys.readouterr()
    d = json.loads(out.read_text())
    assert d["status"] == "optimal"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(png.parent.glob(".*tmp*"))          # atomic writes leave no temp files


def test_own_affinity_csv(tmp_path, capsys):
    """The same command runs on an affinity.csv path (our own Stage III output)."""
    ts = load("paper-1k")
    write_table(tmp_path / "affinity.csv", ts.affinity.rows)
    write_table(tmp_path / "wins_vs_pixels.csv", ts.gain.rows)
    d = run_json(capsys, "--affinities", str(tmp_path / "affinity.csv"), "--max-order", "3")
    ref = bip.solve(ts, budget=6, max_order=3)
    assert d["objective"] == pytest.approx(ref.objective)
    assert all(c["quality"] is None and c["gain"] is not None for c in d["targets"].values())
    assert taskonomy(["solve", "--affinities", str(tmp_path), "--metric", "quality"]) == 2
    assert "no quality table" in capsys.readouterr().err


def test_console_script_subprocess():
    r = subprocess.run([sys.executable, "-m", "taskonomy.supervision.cli", "--json", "--budget", "3"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"] == "optimal"
    # the solve path never imports torch (start-up must stay light)
    r = subprocess.run([sys.executable, "-c", "import sys; from taskonomy.cli import main; "
                        "main(['solve', '--budget', '2']); print('torch' in sys.modules, "
                        "'matplotlib' in sys.modules)"], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip().splitlines()[-1] == "False False"


def test_sweep(tmp_path, capsys):
    out, png = tmp_path / "sweep.csv", tmp_path / "sweep.png"
    assert taskonomy(["sweep", "--budgets", "0", "3", "6", "--max-orders", "1", "2",
                      "--out", str(out), "--plot", str(png)]) == 0
    rows = list(csv.DictReader(out.open()))
    ok = [r for r in rows if r["status"] == "optimal"]
    assert len(ok) == 2 * 2 * 22
    assert {r["status"] for r in rows if r["budget"] == "0"} == {"infeasible"}
    # objective grows with the budget
    obj = {(r["budget"], r["max_order"]): float(r["objective"]) for r in ok}
    assert obj[("6", "1")] >= obj[("3", "1")] and obj[("6", "2")] >= obj[("6", "1")]
    assert png.stat().st_size > 10_000


def test_tree_and_heatmap(tmp_path, capsys):
    png, js = tmp_path / "tree.png", tmp_path / "tree.json"
    assert taskonomy(["tree", "--out", str(png), "--json", str(js)]) == 0
    tree = json.loads(js.read_text())
    assert len(tree["leaves"]) == 26 and len(tree["linkage"]) == 25
    # the 3D tasks end up in one subtree: their leaves are contiguous
    leaves = tree["leaves"]
    pos = sorted(leaves.index(t) for t in ("depth_zbuffer", "depth_euclidean", "reshading",
                                           "principal_curvature", "keypoints3d"))
    assert pos[-1] - pos[0] <= 7
    heat = tmp_path / "heat.png"
    assert taskonomy(["affinity-plot", "--out", str(heat), "--tree-order"]) == 0
    assert heat.stat().st_size > 10_000 and png.stat().st_size > 10_000


def test_snakemake_dry_run():
    cfg = load_config(REPO_ROOT / "config.yaml")["paper"]
    targets = [f"results/{t}/sweep.csv" for t in cfg["tables"]]
    targets += [f"results/{t}/taxonomy/{b}_{k}.json" for t in cfg["tables"]
                for b in cfg["budgets"] for k in cfg["max_orders"]]
    targets += [f"results/{t}/{f}" for t in cfg["tables"] for f in ("tree.png", "affinity.png")]
    snakemake = Path(sys.executable).with_name("snakemake")
    r = subprocess.run([str(snakemake), "-n", "-F", "--cores", "1", *targets], cwd=REPO_ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    counts = dict(re.findall(r"^(paper_\w+)\s+(\d+)$", r.stdout, re.M))
    n = len(cfg["tables"])
    assert counts == {"paper_taxonomy": str(n * len(cfg["budgets"]) * len(cfg["max_orders"])),
                      "paper_sweep": str(n), "paper_tree": str(n), "paper_affinity_plot": str(n)}
    assert "--affinities paper-16k" in r.stdout and "> logs/paper_taxonomy/default/" in r.stdout
