"""Collect the headline numbers of a results folder into one JSON for `dvc metrics show/diff`.

    python scripts/dvc_metrics.py results/paper-16k metrics/paper-16k.json
    python scripts/dvc_metrics.py results/default metrics/default.json

Reads what exists (nothing is required, so it works at every stage of the project):
taxonomy/<budget>_<order>.json or, for a run, taxonomy/<size>/<budget>_<order>.json (objective,
cost used, status of the BIP), tasks/<task>/metrics.json (Stage I test metrics, numbers only)
and the affinity table's row count (affinity.csv, or a run's tables/<size>/affinity.csv). DVC metrics must lie outside
the stages' output folders, hence a separate small file under metrics/.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from taskonomy.io import write_json  # noqa: E402


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _numbers(d: dict) -> dict:
    """The numbers of a metrics dict and of its split sections ({"test": {"loss": ...}}),
    without timings (they change on every run and would make every `dvc metrics diff` noisy)."""
    out = {}
    for k, v in d.items():
        if "seconds" in k or k.endswith("per_s"):
            continue
        if _is_number(v):
            out[k] = v
        elif isinstance(v, dict) and k in ("train", "val", "test"):
            if nums := {k2: v2 for k2, v2 in v.items() if _is_number(v2)}:
                out[k] = nums
    return out


def _taxonomies(folder: Path) -> dict:
    """<budget>_<order>.json of one folder -> {"<budget>_<order>": objective, cost, status}."""
    tax = {}
    for f in sorted(folder.glob("*.json")):
        if f.name.endswith(".lineage.json") or not f.stem.replace("_", "").isdigit():
            continue
        d = json.loads(f.read_text())
        tax[f.stem] = {"objective": d.get("objective"), "cost_used": d.get("cost_used"),
                       "status": d.get("status")}
    return tax


def collect(root: Path) -> dict:
    out: dict = {}
    # paper tables: taxonomy/<b>_<o>.json; a run: taxonomy/<size>/<b>_<o>.json per transfer size
    tax = _taxonomies(root / "taxonomy")
    for sub in sorted(p for p in (root / "taxonomy").glob("*") if p.is_dir()):
        if sized := _taxonomies(sub):
            tax[sub.name] = sized
    if tax:
        out["taxonomy"] = tax
    tasks = {}
    for f in sorted((root / "tasks").glob("*/metrics.json")):
        tasks[f.parent.name] = _numbers(json.loads(f.read_text()))
    if tasks:
        out["tasks"] = tasks
    aff = root / "affinity.csv"
    if aff.is_file():
        out["affinity_rows"] = max(0, len(aff.read_text().splitlines()) - 1)
    rows = {f.parent.name: max(0, len(f.read_text().splitlines()) - 1)
            for f in sorted((root / "tables").glob("*/affinity.csv"))}
    if rows:
        out["affinity_rows_per_size"] = rows
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    root, dest = Path(argv[0]), Path(argv[1])
    if not root.is_dir():
        print(f"dvc_metrics: no results folder {root}", file=sys.stderr)
        return 2
    write_json(dest, collect(root))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
