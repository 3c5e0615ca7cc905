"""The workflow's Python (taskonomy.workflow) and the rule files that call it, without running
any job: target lists and paths, the static higher-order transfers, every rule's environment
and code param, the conda environment against pyproject.toml, and `snakemake --lint` and
`snakefmt --check` (what CI checks, through `make test`)."""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from taskonomy.codehash import closure
from taskonomy.config import load_config, validate
from taskonomy.workflow import Workflow

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SMOKE = ROOT / "tests" / "smoke" / "config.yaml"


@pytest.fixture(scope="module")
def wf():
    return Workflow(validate(yaml.safe_load(SMOKE.read_text())))


def test_targets_sizes_and_positions(wf):
    assert wf.res == "results/smoke" and wf.sizes == ["small"] and wf.splits == ["val", "test"]
    assert wf.transfer_targets == ["normal", "room_layout", "fixated_pose"]
    assert wf.trained_tasks == ["normal", "room_layout", "fixated_pose"]
    # three combinable sources per target (random is never combined), top_k 2, max order 2
    assert wf.positions == ["top1+top2"]
    assert wf.transfer_folders("normal") == ["room_layout", "fixated_pose", "random", "top1+top2"]
    assert wf.targets_of("normal") == ["room_layout", "fixated_pose"] and wf.targets_of("random") == wf.transfer_targets
    # every transfer, every order, is a target of Stages I-II and an input of Stage III: the
    # DAG is static
    stage2 = set(wf.stage2_targets())
    for t in wf.transfer_targets:
        assert set(wf.transfer_losses("small", t)) <= stage2
        assert set(wf.transfer_losses("small", t)) == set(wf.ahp_inputs(type("W", (), {"target": t, "size": "small"}))["transfers"])
        assert f"results/smoke/beam/small/{t}.json" in stage2
    final = set(wf.final_targets())
    assert "results/smoke/summary.md" in final and "data/synth/manifest.json" in final
    assert set(wf.ahp_targets()) <= final


def test_paper_scale_positions_and_budget_checks():
    cfg = validate({**load_config(ROOT / "config.yaml"), "transfer": {"max_order": 4, "top_k": 5}})
    w = Workflow(cfg)
    # 24 combinable sources per target: C(5,2) + C(5,3) + C(5,4)
    assert len(w.positions) == 10 + 10 + 5 and w.positions[0] == "top1+top2"
    assert w.positions[-1] == "top2+top3+top4+top5"
    with pytest.raises(ValueError, match="budget 99 exceeds the 26 tasks"):
        w.check_budget(99)


def test_package_data_is_a_param_not_a_path(wf):
    """A paper table's param is its content hash: the same wherever the package lies."""
    class W:
        table = "paper-16k"
    h = wf.paper_tables(W)
    assert re.fullmatch(r"[0-9a-f]{16}", h) and h != wf.paper_tables(type("W", (), {"table": "paper-1k"}))


def rule_blocks() -> dict[str, str]:
    """rule name (transfers_from_{source}_{size} for the generated ones) -> its text."""
    out = {}
    for f in sorted((ROOT / "rules").glob("*.smk")) + [ROOT / "Snakefile"]:
        text = f.read_text()
        heads = list(re.finditer(r"^( *)rule( \w+)?:\n(?:\1    name:\n\1        f\"(\S+)\"\n)?", text, re.M))
        for i, m in enumerate(heads):
            name = (m.group(2) or "").strip() or m.group(3)
            out[name] = text[m.start():heads[i + 1].start() if i + 1 < len(heads) else len(text)]
    return out


def test_every_rule_runs_its_module_in_the_env_with_its_code_as_param():
    blocks = rule_blocks()
    assert {"train_task", "beam", "ahp_target", "run_summary", "eval_transitive", "transfers_from_{source}_{size}",
            "own_task_transfers", "own_task_report"} <= set(blocks)
    for name, text in blocks.items():
        if name in ("all", "stages_1_2", "novel", "proxy"):        # no job of their own
            continue
        assert re.search(r"conda:\n\s+ENV\n", text), f"rule {name}: no conda environment"
        assert "log:" in text, f"rule {name}: no log"
        module = re.search(r'"python -m (taskonomy[\w.]+)', text).group(1)
        code = re.search(r"code=(stage_code|eval_code)\(((?:[^()]|\([^()]*\))*)\)", text, re.S)
        assert code, f"rule {name}: no code param"
        named = re.findall(r'"(taskonomy[\w.]+)"', code.group(2))
        if code.group(1) == "eval_code":
            named.append("taskonomy.evaluation.cli")
        assert module in named, f"rule {name} runs {module} but its code param hashes {named}"
        assert all(closure([m]) for m in named)            # real modules of the package


def pins(reqs) -> dict[str, str]:
    return dict(r.split("==") for r in reqs)


def test_conda_env_pins_what_pyproject_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "envs" / "taskonomy.yaml").read_text())
    (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    assert pins(pip) == pins(project["dependencies"])
    python = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python=")]
    assert python and python[0].split("=")[1] >= project["requires-python"].lstrip(">=")
    assert (ROOT / "envs" / "taskonomy.post-deploy.sh").stat().st_mode & 0o111


def test_snakefmt_check_is_clean():
    p = subprocess.run([str(BIN / "snakefmt"), "--check", "Snakefile", "rules"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr


@pytest.mark.parametrize("config", ["config.yaml", "tests/smoke/config.yaml"])
def test_snakemake_lint_is_clean(config, tmp_path):
    p = subprocess.run([str(BIN / "snakemake"), "--lint", "--configfile", str(ROOT / config),
                        "-s", str(ROOT / "Snakefile"), "--directory", str(tmp_path)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and "Congratulations" in p.stdout + p.stderr, (p.stdout + p.stderr)[-4000:]


def _job_files(tmp_path, run: str) -> set[str]:
    """The log and benchmark files of every job of the default workflow (`-n -F`) for ``run``."""
    p = subprocess.run([str(BIN / "snakemake"), "-n", "-F", "--cores", "1", "-s", str(ROOT / "Snakefile"),
                        "--directory", str(tmp_path), "--configfile", str(ROOT / "config.yaml"),
                        "--config", f"run={run}"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, (p.stdout + p.stderr)[-3000:]
    return set(re.findall(r"^\s+(?:log|benchmark): (\S+)$", p.stdout, re.M))


def test_two_runs_in_one_folder_keep_their_own_logs_and_benchmarks(tmp_path):
    """Every job's log and benchmark sits under <logs|benchmarks>/<rule>/<run>/, so a second
    run in the same folder (config/fidelity.yaml) does not overwrite the first one's."""
    a, b = _job_files(tmp_path, "default"), _job_files(tmp_path, "other")
    assert any(f.startswith("benchmarks/") for f in a) and len(a) > 100
    assert not a & b
    for run, files in (("default", a), ("other", b)):
        for f in files:
            kind, rule, owner, *_ = f.split("/")
            assert kind in ("logs", "benchmarks") and owner.removesuffix(".log") == run, f
