"""One source of defaults: the config schema, shipped inside the package.

Every default the Python code uses (settings dicts, dataclass fields, fallbacks for a config
that never went through validation) equals the schema's; ``schemas/config.schema.yaml`` (what
Snakemake validates against) is the package's schema; and ``load_config`` works from a wheel
install, outside the source tree.
"""
import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from taskonomy import config as tconfig
from taskonomy import settings
from taskonomy.consistency import settings as cs

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def _schema() -> dict:
    return yaml.safe_load(tconfig.SCHEMA_PATH.read_text())


def _defaults(node: dict) -> dict:
    """The schema's own ``default`` of each property of an object node, read from the file
    (independently of ``schema_defaults``), nested objects with a ``{}`` default expanded."""
    out = {}
    for key, sub in node.get("properties", {}).items():
        if sub.get("type") == "object" and "properties" in sub and sub.get("default") == {}:
            out[key] = _defaults(sub)
        elif "default" in sub:
            out[key] = sub["default"]
    return out


def test_schema_ships_in_the_package_and_schemas_dir_is_the_same_file():
    pkg = ROOT / "src" / "taskonomy" / "resources" / "config.schema.yaml"
    top = ROOT / "schemas" / "config.schema.yaml"   # rules/common.smk validates against this
    assert tconfig.SCHEMA_PATH == pkg.resolve()
    assert top.read_bytes() == pkg.read_bytes()
    if top.is_symlink():
        assert top.resolve() == pkg.resolve()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert "resources/config.schema.yaml" in pyproject   # package data: in the wheel


def test_schema_defaults_are_the_schema_files_defaults():
    props = _schema()["properties"]
    d = tconfig.schema_defaults()
    assert d == _defaults(_schema())
    assert "tasks" not in d                          # required, no default
    d["train"]["lr"] = -1                            # a fresh copy per call
    assert tconfig.schema_defaults()["train"]["lr"] == props["train"]["properties"]["lr"]["default"]


def test_every_python_default_equals_the_schemas():
    s = _schema()
    p = s["properties"]
    train = _defaults(p["train"])
    assert train.pop("overrides") == {}
    assert settings.TRAIN_DEFAULTS == train
    # the per-task overrides accept exactly the train settings
    assert set(p["train"]["properties"]["overrides"]["additionalProperties"]["properties"]) == set(train)
    assert settings.TRANSFER_DEFAULTS == _defaults(p["transfer"])
    assert settings.SEED_DEFAULT == p["seed"]["default"] and settings.DEVICE_DEFAULT == p["device"]["default"]
    # every model key is a network setting but released_weights (Stage I's input folder)
    model = _defaults(p["model"])
    assert model.pop(settings.RELEASED_KEY) is None
    assert settings.ModelSettings().to_dict() == model
    assert {f.name for f in dataclasses.fields(settings.ModelSettings)} == set(model)
    cons = _defaults(p["consistency"])
    assert cs.DEFAULTS == cons
    assert cs.UNetSettings().to_dict() == cons["unet"]
    assert {f.name for f in dataclasses.fields(cs.UNetSettings)} == set(p["consistency"]["properties"]["unet"]["properties"])
    # the schema's default domains: each default target with the other paper domains
    assert cons["domains"] == {t: [d for d in cs.PERCEPTUAL_DOMAINS if d != t] for t in cons["targets"]}


def test_resolved_settings_of_a_bare_config_equal_those_of_the_validated_one():
    """Rules get a validated config (defaults filled by Snakemake), tests and scripts may pass a
    bare dict: both resolve to the same settings, so no default lives outside the schema."""
    bare = {"tasks": ["normal", "reshading", "autoencoding"]}
    full = tconfig.validate(bare)
    size = next(iter(full["transfer"]["sizes"]))
    for t in bare["tasks"]:
        assert settings.task_settings(bare, t) == settings.task_settings(full, t)
        assert settings.transfer_settings(bare, t, size) == settings.transfer_settings(full, t, size)
    assert settings.transfer_common(bare) == settings.transfer_common(full)
    assert cs.section(bare) == cs.section(full)
    assert cs.perceptual_pairs(bare) == cs.perceptual_pairs(full)
    for t in full["consistency"]["targets"]:
        for mode in ("baseline", "consistency"):
            assert cs.target_settings(bare, t, mode) == cs.target_settings(full, t, mode)
        assert cs.energy_settings(bare, t) == cs.energy_settings(full, t)
    y, z = cs.perceptual_pairs(full)[0]
    assert cs.perceptual_settings(bare, y, z) == cs.perceptual_settings(full, y, z)


@pytest.mark.slow
def test_load_config_from_a_wheel_install_outside_the_source_tree(tmp_path):
    """Build the wheel (from a copy of the project, so the checkout gets no build/ folder),
    install it into a bare folder and load a config there: the schema comes from the wheel."""
    proj = tmp_path / "proj"
    proj.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, proj / name)
    shutil.copytree(ROOT / "src", proj / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"))
    pip = [PY, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    r = subprocess.run(pip + ["wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                              "-w", str(tmp_path / "dist"), str(proj)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    wheel, = (tmp_path / "dist").glob("taskonomy-*.whl")
    site = tmp_path / "site"
    r = subprocess.run(pip + ["install", "--no-deps", "--no-index", "-q", "--target", str(site), str(wheel)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (site / "taskonomy" / "resources" / "config.schema.yaml").is_file()

    work = tmp_path / "elsewhere"
    work.mkdir()
    (work / "config.yaml").write_text("tasks: [normal, reshading]\ntransfer: {sizes: {small: 8}}\n")
    (work / "bad.yaml").write_text("tasks: [normal]\ntransfer: {lr: -1}\n")
    code = """if True:
        import json, taskonomy
        from taskonomy.config import SCHEMA_PATH, ConfigError, load_config
        from taskonomy.settings import transfer_settings
        cfg = load_config()                      # config.yaml of the working directory
        try:
            load_config("bad.yaml")
            bad = None
        except ConfigError as e:
            bad = str(e)
        print(json.dumps({"pkg": taskonomy.__file__, "schema": str(SCHEMA_PATH), "cfg": cfg,
                          "ts": transfer_settings(cfg, "normal", "small"), "bad": bad}))
    """
    env = {**os.environ, "PYTHONPATH": str(site)}
    r = subprocess.run([PY, "-c", code], cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout)
    assert Path(out["pkg"]).is_relative_to(site) and Path(out["schema"]).is_relative_to(site)
    expected = tconfig.validate({"tasks": ["normal", "reshading"], "transfer": {"sizes": {"small": 8}}})
    assert out["cfg"] == expected
    assert out["ts"] == json.loads(json.dumps(settings.transfer_settings(expected, "normal", "small")))
    assert "transfer.lr" in out["bad"]
