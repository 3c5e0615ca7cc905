"""Which views of a dataset a run reads: a real dataset's split file, its known-bad files, its size.

    taskonomy data check /data/taskonomy --exclude-out bad.txt     # list missing / undecodable files
    taskonomy data select /data/taskonomy --out results/paper/data \
        --split-file train_val_test_medium.csv --exclude bad.txt --size 256

``select`` writes ``<out>/manifest.json``, a selection manifest: ``root`` (the dataset folder,
relative to ``<out>`` unless given absolute), ``splits`` (buildings per split, from the
Taskonomy ``train_val_test_*.csv`` or the dataset's own manifest), ``exclude`` (the views of the
files listed in the exclusion list), ``size`` (the side every image and label is resized to on
load) and ``vocabulary``. ``DatasetIndex(<out>)`` and the datasets built on it read the dataset
through it: they skip the excluded views and say how many. The pipeline's rule ``select_data``
runs it when ``data.split_file``, ``data.exclude`` or ``data.size`` is set.

An exclusion list has one dataset file per line, its path relative to the dataset folder
(what ``check --exclude-out`` writes); blank lines and ``#`` comments are ignored.
"""
from __future__ import annotations

import os
from pathlib import Path

from taskonomy.data.dataset import DatasetIndex, ViewKey, split_buildings
from taskonomy.io import write_json, write_text

FORMAT_VERSION = 1


def read_exclude_list(path, index: DatasetIndex) -> list[ViewKey]:
    """The views of the files an exclusion list names (sorted, each once)."""
    views = set()
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            views.add(index.view_of(line))
        except ValueError as e:
            raise ValueError(f"{path}, line {n}: {e}") from None
    return sorted(views)


def write_exclude_list(paths, root, out) -> int:
    """Write the files ``paths`` (under ``root``) as an exclusion list; returns how many."""
    root = Path(root)
    rel = sorted({Path(os.path.relpath(p, root)).as_posix() for p in paths})
    text = (f"# known-bad files of {root} (taskonomy data check --exclude-out): one path per line,\n"
            "# relative to the dataset folder; data.exclude skips their views\n")
    write_text(out, text + "".join(f"{p}\n" for p in rel))
    return len(rel)


def select(root, out, split_file=None, exclude=None, size: int | None = None) -> dict:
    """Write ``<out>/manifest.json`` selecting views of the dataset at ``root``; returns it."""
    root, out = Path(root), Path(out)
    index = DatasetIndex(root)
    if split_file is None and not (index.manifest and "splits" in index.manifest):
        raise ValueError(f"{root} has no manifest.json with splits: give a split file "
                         "(a Taskonomy train_val_test_*.csv)")
    splits = {s: split_buildings(index, s, split_file) for s in ("train", "val", "test")}
    bad = read_exclude_list(exclude, index) if exclude else []
    known = set(index.keys)
    manifest = {
        "format": "taskonomy-selection", "format_version": FORMAT_VERSION, "generator": "taskonomy.data.select",
        "root": os.fspath(root) if root.is_absolute() else os.path.relpath(root, out),
        "vocabulary": index.vocabulary.name, "nesting": index.nesting,
        "buildings": sorted({b for bs in splits.values() for b in bs}), "splits": splits,
        "split_file": None if split_file is None else os.fspath(split_file),
        "size": size if size is not None else (index.manifest or {}).get("size"),
        "exclude": {"file": None if exclude is None else os.fspath(exclude),
                    "views": [[k.building, k.point, k.view] for k in bad],
                    "unknown_views": sum(k not in known for k in bad)},
    }
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "manifest.json", manifest)
    return manifest
