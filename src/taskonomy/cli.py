"""The ``taskonomy`` console script: a thin dispatcher over per-stage command modules.

Each sub-command lives in its own module with a ``main(argv) -> int`` and its own argparse
parser; this file only maps names to modules and imports the chosen one lazily, so that
``taskonomy solve`` never pays for importing torch.
"""
from __future__ import annotations

import importlib
import os
import sys

# name -> (module with main(argv), one-line help). Order is the order of `taskonomy --help`.
COMMANDS: dict[str, tuple[str, str]] = {
    "solve": ("taskonomy.supervision.cli", "solve the BIP: which tasks to supervise, which to transfer"),
    "sweep": ("taskonomy.supervision.sweep", "taxonomies over a grid of budgets x max orders (Fig. 8/9)"),
    "tree": ("taskonomy.supervision.tree", "task similarity tree from first-order affinities (Fig. 13)"),
    "affinity-plot": ("taskonomy.supervision.plots", "first-order affinity matrix heat map (Fig. 7)"),
    "serve": ("taskonomy.serve.cli", "the interactive solver: a local web page and JSON API (solve, sweep, tree)"),
    "compare": ("taskonomy.supervision.compare", "agreement of two affinity tables: rankings, taxonomies (Sec. 5.2)"),
    "data": ("taskonomy.data.cli", "synthetic data: synth | check | sheet"),
    "train": ("taskonomy.train", "Stage I: train one task network"),
    "encode": ("taskonomy.encode", "cache a frozen encoder's representations"),
    "transfer": ("taskonomy.transfer", "Stage II: train and evaluate one transfer"),
    "ahp": ("taskonomy.ahp", "Stage III: tournament matrix and AHP vector of a target"),
    "evaluate": ("taskonomy.evaluation.cli", "the paper's evaluations (gain-quality, significance, novel, table1, transitive, bootstrap)"),
    "transitive": ("taskonomy.evaluation.transitive", "transitive transfers s -> t1 -> t2 vs s -> t2: reps | transfer | check"),
    "weights": ("taskonomy.weights", "the paper's released encoders: check DIR | encode | export"),
    "predict": ("taskonomy.predict", "run trained networks on your own image(s)"),
    "owntask": ("taskonomy.owntask", "your own task (config own_tasks): check every label and image"),
    "lineage": ("taskonomy.lineage", "lineage tree of an artifact back to data, config and code"),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: taskonomy <command> [options]   (taskonomy <command> --help for its options)", "",
             "commands:"]
    lines += [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if argv[0] == "--version":
        from taskonomy import __version__
        print(__version__)
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"taskonomy: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name = COMMANDS[name][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            print(f"taskonomy: command {name!r} is not available in this version", file=sys.stderr)
            return 2
        raise
    try:
        return int(module.main(rest) or 0)
    except BrokenPipeError:
        # `taskonomy lineage ... | head`: the reader left; not an error of ours. Point stdout at
        # devnull so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
