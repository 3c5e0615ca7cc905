"""Lineage records (taskonomy.lineage) and `taskonomy lineage`: records, where they live (the
.lineage/ mirror tree, legacy sidecars), tree, staleness."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from taskonomy import lineage
from taskonomy.cli import main as cli_main


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture
def chain(tmp_path, monkeypatch):
    """data.csv -> a.json (params p=1, seed 3) -> b.json; and a config file read by b."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.csv").write_text("x\n1\n")
    (tmp_path / "conf.yaml").write_text("k: 1\n")
    with lineage.track(outputs=["a.json"], inputs=["data.csv"], params={"p": 1}, seed=3):
        (tmp_path / "a.json").write_text('{"a": 1}\n')
    (tmp_path / "b.json").write_text("{}\n")
    lineage.record(outputs=["b.json"], inputs=["a.json", "conf.yaml"], params={"q": [1, 2]}, seed=4)
    return tmp_path


def test_record_contents(chain):
    rec = json.loads((chain / ".lineage" / "a.json.json").read_text())
    assert rec["artifact"] == "a.json" and rec["sha256"] == sha(chain / "a.json")
    assert rec["inputs"] == [{"path": "data.csv", "sha256": sha(chain / "data.csv")}]
    assert rec["params"] == {"p": 1} and rec["seed"] == 3
    assert rec["started"] <= rec["ended"] and rec["host"]
    code = rec["code"]
    assert len(code["package_sha256"]) == 64 and code["package_sha256"] == lineage.package_hash()
    # the package runs from a git checkout here: a commit and a dirty flag are recorded
    assert code["git_commit"] is None or len(code["git_commit"]) == 40
    assert code["git_dirty"] in (True, False, None)
    # written atomically: no temporary files left beside it; records out of the way in .lineage/
    assert sorted(p.name for p in chain.iterdir()) == [
        ".lineage", "a.json", "b.json", "conf.yaml", "data.csv"]
    assert sorted(p.name for p in (chain / ".lineage").iterdir()) == ["a.json.json", "b.json.json"]


def test_track_failure_records_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.txt").write_text("1")
    with pytest.raises(RuntimeError):
        with lineage.track(outputs=["out.txt"], inputs=["in.txt"]):
            (tmp_path / "out.txt").write_text("half")
            raise RuntimeError("killed")
    assert not lineage.sidecar(tmp_path / "out.txt").exists()


def test_errors_name_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="never.json"):
        lineage.record(outputs=["never.json"])
    (tmp_path / "o.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="absent.csv"):
        lineage.record(outputs=["o.json"], inputs=["absent.csv"])


def test_directory_hash_ignores_sidecars_and_tracks_content(tmp_path):
    d = tmp_path / "data"
    (d / "b").mkdir(parents=True)
    (d / "b" / "x.png").write_bytes(b"abc")
    h1 = lineage.content_hash(d)
    (d / "b" / "x.png.lineage.json").write_text("{}")              # a legacy sidecar
    (d / ".lineage" / "b").mkdir(parents=True)                     # the mirror tree of records
    (d / ".lineage" / "b" / "x.png.json").write_text("{}")
    (d / "b" / ".lineage").mkdir()
    (d / "b" / ".lineage" / "x.png.json").write_text("{}")
    assert lineage.content_hash(d) == h1
    (d / "b" / "x.png").write_bytes(b"abd")
    assert lineage.content_hash(d) != h1 and h1.startswith("dir:")


def test_tree_up_to_date_then_stale(chain, capsys):
    tree = lineage.build_tree("b.json")
    assert not tree.stale and [c.path for c in tree.children] == ["a.json", "conf.yaml"]
    assert tree.children[0].children[0].path == "data.csv"
    assert cli_main(["lineage", "--check", "b.json"]) == 0
    out = capsys.readouterr().out
    assert "data.csv" in out and "conf.yaml" in out and '"p": 1' in out and "up to date" in out

    (chain / "data.csv").write_text("x\n2\n")         # the data changed after a.json was made
    tree = lineage.build_tree("b.json")
    assert tree.stale and tree.children[0].stale and not tree.children[1].stale
    assert tree.children[0].children[0].status == "changed"
    assert cli_main(["lineage", "--check", "b.json"]) == 1
    out = capsys.readouterr().out
    assert "CHANGED" in out and "STALE" in out
    assert cli_main(["lineage", "b.json"]) == 0        # without --check it only reports


def test_modified_artifact_and_json_output(chain, capsys):
    (chain / "a.json").write_text('{"a": 2}\n')        # edited by hand after it was recorded
    assert cli_main(["lineage", "--json", "a.json"]) == 0
    (tree,) = json.loads(capsys.readouterr().out)
    assert tree["status"] == "modified" and tree["stale"]
    # b recorded the old a.json: from b's side a.json changed
    assert lineage.build_tree("b.json").children[0].status == "changed"


def test_cli_errors(chain, capsys):
    assert cli_main(["lineage", "nope.json"]) == 2
    assert "no such artifact" in capsys.readouterr().err
    assert cli_main(["lineage", "data.csv"]) == 2
    assert "no lineage record" in capsys.readouterr().err


def test_console_script(chain):
    out = subprocess.run([sys.executable, "-m", "taskonomy", "lineage", "b.json"], cwd=chain,
                         capture_output=True, text=True, env={**os.environ})
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].startswith("b.json  [")


def test_absolute_paths_inside_workdir_are_stored_relative(tmp_path, monkeypatch):
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    monkeypatch.chdir(work)
    (work / "sub" / "in.csv").write_text("1")
    (tmp_path / "outside.csv").write_text("2")
    (work / "o.json").write_text("{}")
    lineage.record([work / "o.json"], [work / "sub" / "in.csv", tmp_path / "outside.csv"])
    rec = lineage.load("o.json")
    assert rec["artifact"] == "o.json"
    assert [i["path"] for i in rec["inputs"]] == ["sub/in.csv", str(tmp_path / "outside.csv")]


def test_data_inputs_record_the_manifest_not_the_dataset(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ds" / "b1").mkdir(parents=True)
    (tmp_path / "ds" / "b1" / "x.png").write_bytes(b"pixels")
    assert lineage.data_inputs("ds") == ["ds"]             # no manifest: the folder, hashed in full
    (tmp_path / "ds" / "manifest.json").write_text('{"buildings": ["b1"]}')
    assert lineage.data_inputs("ds") == [os.path.join("ds", "manifest.json")]
    lineage.record(["ds/manifest.json"], params={"seed": 1}, seed=1,
                   extra={"dataset_sha256": lineage.content_hash("ds")})
    (tmp_path / "out.npy").write_bytes(b"rep")
    # the manifest given both ways is recorded once
    lineage.record(["out.npy"], ["ds/manifest.json"], data="ds")
    rec = lineage.load("out.npy")
    assert [i["path"] for i in rec["inputs"]] == ["ds/manifest.json"]
    assert lineage.load("ds/manifest.json")["dataset_sha256"].startswith("dir:")


@pytest.fixture
def diamond(tmp_path, monkeypatch):
    """data -> rep1, rep2 (one job) -> t1 (rep1), t2 (rep1, rep2) -> top (t1, t2)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.txt").write_text("d")
    for f in ("rep1", "rep2"):
        (tmp_path / f).write_text(f)
    lineage.record(["rep1", "rep2"], ["data.txt"], params={"enc": 1}, seed=0)
    for f, ins in (("t1", ["rep1"]), ("t2", ["rep1", "rep2"]), ("top", ["t1", "t2"])):
        (tmp_path / f).write_text(f)
        lineage.record([f], ins, params={"name": f}, seed=1)
    return tmp_path


def test_shared_subtrees_print_once_with_depth_and_summary(diamond, capsys):
    tree = lineage.build_tree("top")
    assert [n.path for n in lineage.walk(tree)] == ["top", "t1", "rep1", "data.txt", "t2", "rep2"]
    t2 = tree.children[1]
    assert t2.children[0].repeat and t2.children[0].children is tree.children[0].children[0].children
    lines = lineage.format_tree(tree)
    text = "\n".join(lines)
    assert text.count("rep1  [") == 1 and "rep1  (see above)" in text
    assert "inputs: as rep1 (same job, see above)" in text        # rep2: sibling output of rep1's job
    assert text.count("data.txt") == 1
    assert "... 1 input(s) below depth 1" in "\n".join(lineage.format_tree(tree, depth=1))
    assert cli_main(["lineage", "--summary", "top"]) == 0
    out = capsys.readouterr().out
    assert "top: 6 distinct artifacts" in out
    assert "data/config" in out and "up to date" in out


def test_stale_artifacts_are_exactly_the_downstream(diamond, capsys):
    (diamond / "rep2").write_text("changed")                     # only t2 and top read rep2
    tree = lineage.build_tree("top")
    assert lineage.stale_artifacts(tree) == {"rerun": ["t2", "top"], "modified": ["rep2"]}
    assert not tree.children[0].stale and tree.children[1].stale
    assert cli_main(["lineage", "--check", "top"]) == 1
    out = capsys.readouterr().out
    assert "to rerun (an input changed): 2" in out and "modified after recorded: 1" in out
    (diamond / "rep2").write_text("rep2")
    (diamond / "data.txt").write_text("new data")                # a leaf input: all of it is stale
    flagged = lineage.stale_artifacts(lineage.build_tree("top"))
    assert flagged == {"rerun": ["rep1", "rep2", "t1", "t2", "top"], "changed": ["data.txt"]}
    assert cli_main(["lineage", "--json", "--check", "top"]) == 1
    (tree_json,) = json.loads(capsys.readouterr().out)
    assert tree_json["stale"] and any(c.get("see_above") for c in tree_json["inputs"][1]["inputs"])


def test_verify_data_rehashes_the_dataset_behind_a_manifest(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ds" / "b1").mkdir(parents=True)
    (tmp_path / "ds" / "b1" / "x.png").write_bytes(b"pixels")
    (tmp_path / "ds" / "manifest.json").write_text("{}")
    lineage.record(["ds/manifest.json"], extra={"dataset_sha256": lineage.content_hash("ds")})
    (tmp_path / "net.pt").write_bytes(b"w")
    lineage.record(["net.pt"], data="ds")
    assert cli_main(["lineage", "--check", "--verify-data", "net.pt"]) == 0
    (tmp_path / "ds" / "b1" / "x.png").write_bytes(b"edited")     # the manifest is unchanged
    assert cli_main(["lineage", "--check", "net.pt"]) == 0           # cheap check: manifest only
    assert cli_main(["lineage", "--check", "--verify-data", "net.pt"]) == 1
    out = capsys.readouterr().out
    assert "DATASET files changed" in out
    assert lineage.stale_artifacts(lineage.build_tree("net.pt", verify_data=True)) == {
        "rerun": ["net.pt"], "modified": [os.path.join("ds", "manifest.json")]}


def test_reader_leaving_early_is_not_an_error(tmp_path):
    # `taskonomy lineage X | head`: the reader closes the pipe; a long tree (300 artifacts in a
    # chain) makes the command write while the pipe is closed. Exit 0, no traceback.
    prev = tmp_path / "a0.txt"
    prev.write_text("0")
    for i in range(1, 300):
        cur = tmp_path / f"a{i}.txt"
        cur.write_text(str(i))
        lineage.record([cur], [prev], params={"i": i})
        prev = cur
    p = subprocess.Popen([sys.executable, "-m", "taskonomy", "lineage", str(prev)], cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()
    _, err = p.communicate(timeout=120)
    assert p.returncode == 0, err.decode()
    assert b"Traceback" not in err, err.decode()


def test_records_live_in_one_mirror_tree_per_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sc = lineage.sidecar
    assert sc("results/r1/eval/16k/table1.csv") == Path("results/r1/.lineage/eval/16k/table1.csv.json")
    assert sc("results/r1/tasks/normal") == Path("results/r1/.lineage/tasks/normal.json")  # a folder
    assert sc("results/r1/summary.md") == Path("results/r1/.lineage/summary.md.json")
    # outside results/<run>/: .lineage/ in the artifact's own folder
    assert sc("data/synth/manifest.json") == Path("data/synth/.lineage/manifest.json.json")
    assert sc("a.json") == Path(".lineage/a.json.json")
    assert sc("results/r1") == Path("results/.lineage/r1.json")       # the run folder itself
    # one file however the path is spelled: absolute (stays absolute), ./.., from inside the run
    assert sc(tmp_path / "results/r1/eval/x.png") == tmp_path / "results/r1/.lineage/eval/x.png.json"
    assert sc("data/../results/r1/eval/x.png") == Path("results/r1/.lineage/eval/x.png.json")
    assert sc(tmp_path / "somewhere/results/r2/a/b.pt") == tmp_path / "somewhere/results/r2/.lineage/a/b.pt.json"
    (tmp_path / "results/r1/eval").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "results/r1")
    assert sc("eval/x.png") == Path(".lineage/eval/x.png.json")
    monkeypatch.chdir(tmp_path / "results/r1/eval")
    assert sc("x.png") == Path("../.lineage/eval/x.png.json")


def _run_chain(tmp_path):
    """data/manifest.json -> results/r/a/x.json -> results/r/eval/y.csv, recorded from tmp_path."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "manifest.json").write_text("{}")
    (tmp_path / "results/r/a").mkdir(parents=True)
    (tmp_path / "results/r/eval").mkdir(parents=True)
    (tmp_path / "results/r/a/x.json").write_text("1")
    lineage.record(["results/r/a/x.json"], data="data", seed=2)
    (tmp_path / "results/r/eval/y.csv").write_text("2")
    lineage.record(["results/r/eval/y.csv"], ["results/r/a/x.json"])


def test_results_folders_hold_only_artifacts_and_the_cli_follows_records(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _run_chain(tmp_path)
    assert sorted(p.name for p in (tmp_path / "results/r/eval").iterdir()) == ["y.csv"]
    assert sorted(p.name for p in (tmp_path / "results/r").iterdir()) == [".lineage", "a", "eval"]
    assert (tmp_path / "results/r/.lineage/eval/y.csv.json").is_file()
    assert (tmp_path / "results/r/.lineage/a/x.json.json").is_file()
    assert lineage.load("results/r/eval/y.csv")["artifact"] == "results/r/eval/y.csv"
    assert cli_main(["lineage", "--check", "results/r/eval/y.csv"]) == 0
    out = capsys.readouterr().out
    assert "results/r/a/x.json  [" in out and "data/manifest.json" in out and "up to date" in out
    # from inside the run folder, and by absolute path: the same records
    monkeypatch.chdir(tmp_path / "results/r")
    assert lineage.load("eval/y.csv")["artifact"] == "results/r/eval/y.csv"
    assert cli_main(["lineage", "--check", str(tmp_path / "results/r/eval/y.csv")]) == 0
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results/r/a/x.json").write_text("changed")
    assert cli_main(["lineage", "--check", "results/r/eval/y.csv"]) == 1
    assert "results/r/a/x.json" in capsys.readouterr().out


def _make_legacy(tmp_path):
    """Move the chain's records back to where earlier versions wrote them (X.lineage.json)."""
    for art in ("results/r/a/x.json", "results/r/eval/y.csv"):
        os.replace(lineage.sidecar(art), art + ".lineage.json")


def test_legacy_sidecars_are_still_read_then_moved(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _run_chain(tmp_path)
    _make_legacy(tmp_path)
    assert lineage.find("results/r/eval/y.csv") == Path("results/r/eval/y.csv.lineage.json")
    assert lineage.load("results/r/eval/y.csv")["artifact"] == "results/r/eval/y.csv"
    assert cli_main(["lineage", "--check", "results/r/eval/y.csv"]) == 0
    assert "results/r/a/x.json  [" in capsys.readouterr().out
    # legacy sidecars inside a folder artifact do not change its hash
    assert lineage.content_hash("results/r/eval") == "dir:" + lineage.files_hash(
        "results/r/eval", ["results/r/eval/y.csv"])
    # recording an artifact again writes the mirror tree and removes its legacy sidecar
    lineage.record(["results/r/eval/y.csv"], ["results/r/a/x.json"])
    assert sorted(p.name for p in (tmp_path / "results/r/eval").iterdir()) == ["y.csv"]
    assert lineage.find("results/r/eval/y.csv") == Path("results/r/.lineage/eval/y.csv.json")
    # --migrate moves the rest: the tree still checks out
    assert cli_main(["lineage", "--migrate", "results/r"]) == 0
    out = capsys.readouterr().out
    assert "results/r/a/x.json.lineage.json -> results/r/.lineage/a/x.json.json" in out
    assert "results/r: 1 record(s) moved" in out
    assert not list((tmp_path / "results").rglob("*.lineage.json"))
    assert cli_main(["lineage", "--check", "results/r/eval/y.csv"]) == 0
    assert cli_main(["lineage", "--migrate", "results/r"]) == 0       # nothing left: a no-op
    assert "0 record(s) moved" in capsys.readouterr().out
    assert cli_main(["lineage", "--migrate", "nope"]) == 2


def test_migrate_keeps_a_newer_record(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _run_chain(tmp_path)
    new = lineage.sidecar("results/r/a/x.json").read_text()
    (tmp_path / "results/r/a/x.json.lineage.json").write_text('{"old": true}')
    assert lineage.migrate("results/r") == []
    assert lineage.sidecar("results/r/a/x.json").read_text() == new
    assert not (tmp_path / "results/r/a/x.json.lineage.json").exists()


def test_dataset_index_ignores_the_records_folder(tmp_path):
    from taskonomy.data.dataset import DatasetIndex

    root = tmp_path / "ds"
    for d in ("rgb", "normal"):
        (root / d / "b1").mkdir(parents=True)
        (root / d / "b1" / f"point_0_view_0_domain_{d}.png").write_bytes(b"")
    (root / "manifest.json").write_text("{}")
    (root / ".lineage").mkdir()
    (root / ".lineage" / "manifest.json.json").write_text("{}")
    idx = DatasetIndex(root)
    assert ".lineage" not in idx.domains and {"rgb", "normal"} <= set(idx.domains)
