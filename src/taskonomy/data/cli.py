"""``taskonomy data``: render, validate and look at datasets in the Taskonomy layout.

    taskonomy data synth --out data/synth --buildings 40 --points 12 --views 3 --size 64 --seed 0 --workers 2
    taskonomy data check data/synth
    taskonomy data check /data/taskonomy --exclude-out bad.txt
    taskonomy data select /data/taskonomy --out results/paper/data --split-file train_val_test_medium.csv \
        --exclude bad.txt --size 256
    taskonomy data sheet data/synth --out sheet.png
    python -m taskonomy.data.cli synth ...      (what the Snakemake rule runs)
"""
from __future__ import annotations

import argparse
import sys


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="taskonomy data", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("synth", help="render the embedded synthetic dataset")
    s.add_argument("--out", required=True, help="dataset folder to write")
    s.add_argument("--buildings", type=int, default=40, help="number of buildings (one room each)")
    s.add_argument("--points", type=int, default=12, help="sampled 3D points per building")
    s.add_argument("--views", type=int, default=3, help="camera views fixating each point")
    s.add_argument("--size", type=int, default=64, help="image side in pixels")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--workers", type=int, default=2, help="render processes")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    c = sub.add_parser("check", help="validate a dataset folder (exit code 1 on problems)")
    c.add_argument("root")
    c.add_argument("--quiet", action="store_true")
    c.add_argument("--exclude-out", metavar="BAD_TXT",
                   help="write every missing or undecodable file to this exclusion list (data.exclude)")
    e = sub.add_parser("select", help="a selection manifest of a dataset: split file, known-bad views, size")
    e.add_argument("root", help="dataset folder (any Taskonomy nesting)")
    e.add_argument("--out", required=True, help="folder of the selection's manifest.json (read it as the dataset)")
    e.add_argument("--split-file", help="Taskonomy train_val_test_*.csv (default: the dataset's manifest)")
    e.add_argument("--exclude", help="exclusion list (taskonomy data check --exclude-out): skip these views")
    e.add_argument("--size", type=int, help="image side every image and label is resized to on load")
    h = sub.add_parser("sheet", help="contact sheet of every domain for a few views")
    h.add_argument("root")
    h.add_argument("--out", required=True)
    h.add_argument("--views", type=int, default=4)
    h.add_argument("--seed", type=int, default=0)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.cmd == "synth":
        from taskonomy.data.synth import SynthSettings, synthesize
        st = SynthSettings(out=args.out, buildings=args.buildings, points=args.points, views=args.views,
                           size=args.size, seed=args.seed, workers=args.workers)
        from taskonomy import lineage  # the dataset is hashed once, here; readers record the manifest
        started = lineage.now()
        try:
            man = synthesize(st, progress=not args.quiet)
        except ValueError as e:
            print(f"taskonomy data synth: {e}", file=sys.stderr)
            return 2
        print(f"wrote {man['counts']['views']} views of {man['counts']['buildings']} buildings to {args.out}")
        lineage.record([f"{args.out}/manifest.json"], params=st, seed=st.seed, started=started,
                       extra={"dataset_sha256": lineage.content_hash(args.out)})
        return 0
    if args.cmd == "check":
        from taskonomy.data.check import find_problems
        problems = find_problems(args.root, progress=not args.quiet)
        for p in problems:
            print(p, file=sys.stderr)
        if args.exclude_out:
            from taskonomy.data.select import write_exclude_list
            n = write_exclude_list([p.path for p in problems if p.path is not None], args.root, args.exclude_out)
            print(f"{args.exclude_out}: {n} bad file(s) listed", file=sys.stderr)
        if problems:
            print(f"{args.root}: {len(problems)} problem(s)", file=sys.stderr)
            return 1
        print(f"{args.root}: ok")
        return 0
    if args.cmd == "select":
        from taskonomy.data.select import select
        try:
            man = select(args.root, args.out, split_file=args.split_file, exclude=args.exclude, size=args.size)
        except (ValueError, FileNotFoundError) as e:
            print(f"taskonomy data select: {e}", file=sys.stderr)
            return 2
        ex = man["exclude"]
        print(f"{args.out}/manifest.json: {args.root}, splits of {len(man['buildings'])} buildings"
              + (f", {len(ex['views'])} views excluded ({ex['file']})" if ex["file"] else ""))
        return 0
    if args.cmd == "sheet":
        from taskonomy.data.sheet import make_sheet
        print(make_sheet(args.root, args.out, n_views=args.views, seed=args.seed))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
