"""`taskonomy data synth | check | sheet` through the console-script dispatcher."""
import shutil

import pytest
from PIL import Image

from taskonomy.cli import main
from taskonomy.data import encodings as enc


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "ds"
    assert main(["data", "synth", "--out", str(out), "--buildings", "3", "--points", "2", "--views", "3",
                 "--size", "24", "--seed", "2", "--workers", "1", "--quiet"]) == 0
    return out


def test_check_passes_on_a_fresh_dataset(root, capsys):
    assert main(["data", "check", str(root), "--quiet"]) == 0
    assert "ok" in capsys.readouterr().out


def test_check_names_a_corrupt_and_a_missing_file(root, tmp_path, capsys):
    copy = tmp_path / "ds"
    shutil.copytree(root, copy)
    corrupt = copy / "normal" / "synth0001" / enc.filename(1, 0, "normal")
    corrupt.write_bytes(corrupt.read_bytes()[:40])
    missing = copy / "keypoints3d" / "synth0002" / enc.filename(0, 2, "keypoints3d")
    missing.unlink()
    out_of_range = copy / "segment_semantic" / "synth0000" / enc.filename(0, 0, "segment_semantic")
    enc.write_png(out_of_range, (enc.read_file(out_of_range, "segment_semantic") * 0 + 250), "L")
    assert main(["data", "check", str(copy), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert str(corrupt) in err and str(missing) in err and str(out_of_range) in err
    assert "3 problem(s)" in err
    rgb = copy / "rgb" / "synth0000" / enc.filename(1, 1, "rgb")
    rgb.unlink()
    assert main(["data", "check", str(copy), "--quiet"]) == 1
    assert str(rgb) in capsys.readouterr().err


def test_sheet_is_a_png_with_every_domain(root, tmp_path):
    out = tmp_path / "sheet.png"
    assert main(["data", "sheet", str(root), "--out", str(out), "--views", "2"]) == 0
    with Image.open(out) as img:
        assert img.width > 1000 and img.height > 200


def test_bad_arguments_exit_non_zero(tmp_path, capsys):
    assert main(["data", "synth", "--out", str(tmp_path / "x"), "--buildings", "0", "--quiet"]) == 2
    assert "buildings" in capsys.readouterr().err
    assert main(["data", "check", str(tmp_path / "nope"), "--quiet"]) == 1


@pytest.mark.slow
def test_snakemake_rule_renders_the_configured_dataset(tmp_path):
    """The data rule end to end: config `data:` section -> manifest target -> a valid dataset."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    import yaml
    config = yaml.safe_load((repo / "config.yaml").read_text())
    config["data"] = {"root": "data/tiny",
                      "synth": {"buildings": 3, "points": 2, "views": 3, "size": 24, "seed": 5, "workers": 1}}
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    cmd = [str(Path(sys.executable).with_name("snakemake")), "-s", str(repo / "Snakefile"), "--directory", str(tmp_path),
           "--configfile", str(cfg), "--cores", "1", "--nolock", "data/tiny/manifest.json"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    man = json.loads((tmp_path / "data/tiny/manifest.json").read_text())
    assert man["counts"]["views"] == 18 and man["generator_args"]["seed"] == 5
    assert main(["data", "check", str(tmp_path / "data/tiny"), "--quiet"]) == 0
    assert (tmp_path / f"logs/synth_data/{config['run']}/synth.log").exists()
