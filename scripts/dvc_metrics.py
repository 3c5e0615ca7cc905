"""Collect the headline numbers of a results folder into one JSON for `dvc metrics show/diff`.

    python scripts/dvc_metrics.py results/paper-16k metrics/paper-16k.json
    python scripts/dvc_metrics.py results/default metrics/default.json

Reads what exists (nothing is required, so it works at every stage of the project):
taxonomy/<budget>_<order>.json (objective, cost used, status of the BIP), tasks/<task>/metrics.json
(Stage I test metrics, numbers only) and affinity.csv (row count). DVC metrics must lie outside
the stages' output folders, hence a separate small file under metrics/.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from taskonomy.io import write_json  # noqa: E402


def _numbers(d: dict) -> dict:
    return {k: v for k, v in d.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def collect(root: Path) -> dict:
    out: dict = {}
    tax = {}
    for f in sorted((root / "taxonomy").glob("*.json")):
        if f.name.endswith(".lineage.json"):
            continue
        d = json.loads(f.read_text())
        tax[f.stem] = {"objective": d.get("objective"), "cost_used": d.get("cost_used"),
                       "status": d.get("status")}
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
