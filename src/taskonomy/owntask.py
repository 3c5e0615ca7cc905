"""Your own task: declared in ``config.yaml`` (``own_tasks``), no code edit.

    own_tasks:
      tasks:
        - {name: brightness, kind: vector, channels: 3, csv: labels/brightness.csv}
        - {name: floor, kind: pixel_classes, channels: 2}     # data.root/floor/<building>/...

A declaration names the task, its kind (``pixel`` regression, ``pixel_classes``,
``image_classes``, ``vector``), its channels (or classes) and optionally its loss; its labels
are either

- a domain folder named after the task in ``data.root``, in the Taskonomy layout
  (``<root>/<name>/<building>/point_<i>_view_<j>_domain_<name>.png|.npy``, either nesting):
  every view of the transfer split and the evaluation split needs one, and the task's
  transfers read the run's cached representations (``results/<run>/reps``); or
- a CSV (``csv:``) with a column ``image`` (a path relative to ``images:``, default the
  CSV's folder), the label (``label``; ``label_0..label_<C-1>`` for a vector; for pixel kinds
  ``label`` is the path of a label image) and optionally ``split`` (train | test; without
  it a seeded ``own_tasks.test_share`` of the images is the test set). These images are new
  to the encoders: each source encodes them once (``results/<run>/own/<task>/reps``).

Label files: pixel kinds ``.png`` (8 or 16 bit; regression values scaled to [0, 1]) or
``.npy`` (H x W or H x W x C); vectors ``.npy`` of shape (channels,); image classes ``.npy``
holding one integer (in a CSV: the integer itself).

Checks come in two steps, both before anything trains: :func:`declared` (called when the
workflow is built) rejects a bad declaration naming its key (a name that is a task of the
dictionary, a loss the kind does not take, a CSV or domain folder that is not there);
``python -m taskonomy.owntask check`` (the workflow's ``own_task_check`` job, or by hand with
``--config``) reads every label and image and names the file that is missing, does not
decode, has the wrong shape or a class out of range, or the CSV row that names a missing
image. It writes the caches the all-for-one stage reads (``taskonomy.evaluation.allforone``):
``targets/<task>/<split>.npz`` (the run's label caches, ``taskonomy.labels``), ``images/<split>.pt``
(RGB in [-1, 1]) and ``check.json``.

Every other module reads task facts from ``taskonomy.tasks.TASKS``; :func:`register` adds the
declared tasks there, in the processes that handle them (the check, the all-for-one jobs).
Imports no torch at module level: the workflow calls :func:`declared` while building the DAG.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from taskonomy.config import ConfigError, load_schema
from taskonomy.tasks import CLASSES, LOWDIM, PAPER_TO_ID, PIXEL, SPECIAL_SOURCES, TASKS, Task

# kind -> (the registry's kind, the losses it takes: the first is the default)
KINDS = {"pixel": (PIXEL, ("l1", "l2")), "pixel_classes": (CLASSES, ("ce_rebalanced",)),
         "image_classes": (LOWDIM, ("ce",)), "vector": (LOWDIM, ("l1", "l2"))}
PIXEL_KINDS = ("pixel", "pixel_classes")
CLASS_KINDS = ("pixel_classes", "image_classes")
CSV_SPLITS = ("train", "test")
MAX_LISTED = 5          # bad files named in one error (then a count)


class OwnTaskError(ValueError):
    """A bad own-task declaration (names the config key) or label / image (names the file)."""


@dataclass(frozen=True)
class OwnTask:
    """One declared task, defaults filled."""
    key: str                 # its config key, for error messages: own_tasks.tasks[i]
    name: str
    kind: str
    channels: int
    loss: str
    csv: str | None
    images: str | None
    n: int | None

    @property
    def source(self) -> str:
        return "csv" if self.csv else "taskonomy"

    def task(self) -> Task:
        """Its entry of the task registry."""
        return Task(self.name, self.name, KINDS[self.kind][0], self.channels, self.loss, group="own",
                    description=f"own task ({self.kind})")

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "key"}


def _item_defaults() -> dict:
    props = load_schema()["properties"]["own_tasks"]["properties"]["tasks"]["items"]["properties"]
    return {k: v["default"] for k, v in props.items() if "default" in v}


def declared(config: dict) -> list[OwnTask]:
    """The declared tasks of a schema-validated config; OwnTaskError naming the key of a bad
    one. The CSV (and its header) or the domain folder must be there (the latter only once
    ``data.root`` is: the pipeline may still have to render it)."""
    section = config.get("own_tasks") or {}
    defaults = _item_defaults()
    out, seen = [], {}
    for i, item in enumerate(section.get("tasks") or []):
        key = f"own_tasks.tasks[{i}]"
        d = {**defaults, **item}
        name = d["name"]
        if name in TASKS or name in PAPER_TO_ID or name in SPECIAL_SOURCES:
            raise OwnTaskError(f"config key '{key}.name': {name!r} is already a task of the "
                               "dictionary (or a reserved name); choose another name")
        if name in seen:
            raise OwnTaskError(f"config key '{key}.name': {name!r} is declared twice ({seen[name]})")
        seen[name] = key
        if d["kind"] not in KINDS:
            raise OwnTaskError(f"config key '{key}.kind': unknown kind {d['kind']!r}; valid: {', '.join(KINDS)}")
        losses = KINDS[d["kind"]][1]
        loss = d["loss"] or losses[0]
        if loss not in losses:
            raise OwnTaskError(f"config key '{key}.loss': kind {d['kind']} takes {' | '.join(losses)}, not {loss!r}")
        if d["kind"] in CLASS_KINDS and d["channels"] < 2:
            raise OwnTaskError(f"config key '{key}.channels': {d['kind']} needs at least 2 classes")
        if d["images"] and not d["csv"]:
            raise OwnTaskError(f"config key '{key}.images': only a CSV's images can be given "
                               "(a Taskonomy-layout domain labels the views of data.root)")
        t = OwnTask(key, name, d["kind"], int(d["channels"]), loss, d["csv"], d["images"], d["n"])
        _check_location(t, config["data"]["root"])
        out.append(t)
    return out


def _check_location(t: OwnTask, data_root: str) -> None:
    if t.csv:
        if not Path(t.csv).is_file():
            raise OwnTaskError(f"config key '{t.key}.csv': label file {t.csv} not found")
        if t.images and not Path(t.images).is_dir():
            raise OwnTaskError(f"config key '{t.key}.images': image folder {t.images} not found")
        with open(t.csv, newline="") as f:
            csv_label_columns(t, next(csv.reader(f), []), f"config key '{t.key}.csv': {t.csv}")
        return
    root = Path(data_root)
    if root.is_dir() and not ((root / t.name).is_dir() or any(root.glob(f"*/{t.name}"))):
        raise OwnTaskError(f"config key '{t.key}': no csv given and no domain folder {root / t.name} "
                           f"(nor {root}/<building>/{t.name}) in data.root")


def register(tasks) -> None:
    """Add the declared tasks to the task registry (``taskonomy.tasks.TASKS``)."""
    for t in tasks:
        TASKS[t.name] = t.task()


@contextlib.contextmanager
def registered(tasks):
    """:func:`register` for the duration of a block (tests)."""
    register(tasks)
    try:
        yield
    finally:
        for t in tasks:
            TASKS.pop(t.name, None)


def from_spec(spec: str | dict) -> OwnTask:
    """An OwnTask from its JSON (``to_dict``, what the workflow passes to a job)."""
    d = json.loads(spec) if isinstance(spec, str) else dict(spec)
    return OwnTask(key=f"own task {d['name']}", **d)


# ---------------------------------------------------------------- reading labels and images
def _first_errors(errors: list[str], what: str) -> OwnTaskError:
    more = f"\n  ... and {len(errors) - MAX_LISTED} more" if len(errors) > MAX_LISTED else ""
    return OwnTaskError(f"{what}: {len(errors)} bad file(s):\n  " + "\n  ".join(errors[:MAX_LISTED]) + more)


def decode_label(t: OwnTask, path: Path):
    """The label tensor in a label file: (C, H, W) float (pixel), (H, W) int64 (pixel
    classes), (C,) float (vector), () int64 (image classes). OwnTaskError naming the file."""
    import torch
    from taskonomy.data.encodings import DataFileError, read_file
    try:
        raw = read_file(path, "")
    except DataFileError as e:
        raise OwnTaskError(str(e).replace("dataset file", "label file")) from None
    arr = np.asarray(raw)
    want = {"pixel": f"H x W x {t.channels}", "pixel_classes": "H x W", "vector": f"({t.channels},)",
            "image_classes": "one integer"}[t.kind]
    bad = OwnTaskError(f"label file {path} has shape {arr.shape} ({arr.dtype}); "
                       f"a {t.kind} label of this task is {want}")
    if t.kind == "pixel":
        if arr.ndim == 2:
            arr = arr[..., None]
        if arr.ndim != 3 or arr.shape[2] != t.channels:
            raise bad
        if path.suffix.lower() == ".png":
            arr = arr.astype(np.float32) / (65535.0 if raw.dtype == np.int32 else 255.0)   # 16 / 8 bit
        return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1), dtype=np.float32))
    if t.kind == "vector":
        if arr.shape != (t.channels,) and not (t.channels == 1 and arr.ndim == 0):
            raise bad
        return torch.from_numpy(arr.reshape(t.channels).astype(np.float32))
    if arr.ndim != (2 if t.kind == "pixel_classes" else 0) and not (t.kind == "image_classes" and arr.shape == (1,)):
        raise bad
    if not np.issubdtype(arr.dtype, np.integer) and not (arr == np.round(arr)).all():
        raise OwnTaskError(f"label file {path} holds non-integer classes ({arr.dtype})")
    return _classes(t, arr.astype(np.int64).reshape(arr.shape if arr.ndim == 2 else ()), f"label file {path}")


def _classes(t: OwnTask, arr: np.ndarray, where: str):
    import torch
    if arr.size and (arr.min() < 0 or arr.max() >= t.channels):
        raise OwnTaskError(f"{where}: class {int(arr.min() if arr.min() < 0 else arr.max())} "
                           f"is outside 0..{t.channels - 1} (channels: {t.channels})")
    return torch.from_numpy(arr)


def _resize_label(t: OwnTask, y, side: int):
    from taskonomy.data.dataset import _resize
    if t.kind not in PIXEL_KINDS:
        return y
    return _resize(y, side, nearest=t.kind == "pixel_classes")


def read_image(path: Path):
    """RGB (3, H, W) in [-1, 1] of one image file; OwnTaskError naming a bad file."""
    from taskonomy.data.dataset import _rgb_tensor
    from taskonomy.data.encodings import DataFileError, read_file
    try:
        raw = read_file(path, "rgb")
    except DataFileError as e:
        raise OwnTaskError(str(e).replace("dataset file", "image")) from None
    return _rgb_tensor(np.asarray(raw))


def _stack(t: OwnTask, ys: list, images: list[int]) -> dict:
    import torch
    y = torch.stack(ys)
    image = torch.tensor(images, dtype=torch.int64)
    return {"y": y, "image": image, "views": image.view(-1, 1)}


def read_csv_labels(t: OwnTask, side: int, seed: int, test_share: float) -> dict[str, tuple[dict, "torch.Tensor"]]:
    """{"train" | "test": (labels, images)} of a CSV task; every bad row or file is collected
    and named."""
    import torch
    from taskonomy.data.dataset import _resize
    csv_path = Path(t.csv)
    base = Path(t.images) if t.images else csv_path.parent
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        label_cols = csv_label_columns(t, reader.fieldnames, str(csv_path))
        rows = list(reader)
    if not rows:
        raise OwnTaskError(f"{csv_path}: no rows")
    errors, xs, ys, splits = [], [], [], []
    for line, row in enumerate(rows, start=2):
        where = f"{csv_path}:{line}"
        try:
            img = base / row["image"].strip()
            if not img.is_file():
                raise OwnTaskError(f"image {img} not found")
            full = read_image(img)
            x = _resize(full, side, nearest=False)
            if t.kind in PIXEL_KINDS:
                y = decode_label(t, base / row["label"].strip())
                if tuple(y.shape[-2:]) != tuple(full.shape[-2:]):
                    raise OwnTaskError(f"label {base / row['label'].strip()} is {tuple(y.shape[-2:])} "
                                       f"pixels but image {img} is {tuple(full.shape[-2:])}")
                y = _resize_label(t, y, side)
            elif t.kind == "vector":
                y = torch.tensor([float(row[c]) for c in label_cols], dtype=torch.float32)
                if not torch.isfinite(y).all():
                    raise ValueError("not finite")
            else:
                v = float(row["label"])
                if v != int(v):
                    raise ValueError(f"class {row['label']!r} is not an integer")
                y = _classes(t, np.array(int(v)), "label")
            split = (row.get("split") or "").strip()
            if split and split not in CSV_SPLITS:
                raise OwnTaskError(f"split {split!r} is not one of {', '.join(CSV_SPLITS)}")
        except OwnTaskError as e:
            errors.append(f"{where}: {e}")
            continue
        except (TypeError, ValueError) as e:
            errors.append(f"{where}: bad label {[row.get(c) for c in label_cols]} ({e})")
            continue
        xs.append(x)
        ys.append(y)
        splits.append(split)
    if errors:
        raise _first_errors(errors, f"own task {t.name} ({csv_path})")
    if not all(splits):
        rng = np.random.default_rng(seed)
        test = set(rng.permutation(len(splits))[:max(1, round(test_share * len(splits)))].tolist())
        splits = ["test" if i in test else "train" for i in range(len(splits))]
    out = {}
    for sp in CSV_SPLITS:
        idx = [i for i, s in enumerate(splits) if s == sp]
        if not idx:
            raise OwnTaskError(f"{csv_path}: no {sp} images (column split)")
        out[sp] = (_stack(t, [ys[i] for i in idx], list(range(len(idx)))),
                   torch.stack([xs[i] for i in idx]))
    return out


def csv_label_columns(t: OwnTask, header, where: str) -> list[str]:
    """The label columns of ``t``'s CSV (``label``; ``label_0``.. for a vector of several
    channels); OwnTaskError naming ``where`` when the header lacks them or ``image``."""
    cols = [c.strip() for c in header or []]
    label_cols = (["label"] if t.kind != "vector" or (t.channels == 1 and "label" in cols)
                  else [f"label_{c}" for c in range(t.channels)])
    missing = [c for c in ["image", *label_cols] if c not in cols]
    if missing:
        raise OwnTaskError(f"{where}: no column(s) {', '.join(missing)} (columns: {', '.join(cols)}); "
                           f"a {t.kind} task with {t.channels} channel(s) needs image, {', '.join(label_cols)}")
    return label_cols


def label_path(index, key, t: OwnTask) -> Path | None:
    """The label file of a view in a Taskonomy-layout domain (.png or .npy), or None."""
    png = index.path(key, t.name)
    order = (png, png.with_suffix(".npy")) if t.kind in PIXEL_KINDS else (png.with_suffix(".npy"),)
    return next((p for p in order if p.is_file()), None)


def read_domain_labels(t: OwnTask, data_root, splits) -> dict[str, tuple[dict, "torch.Tensor"]]:
    """{split: (labels, images)} of a Taskonomy-layout task: every view of each split; the
    labels' image indices are the views' rows in the run's representation caches."""
    import torch
    from taskonomy.data.dataset import TaskonomyDataset
    out, errors = {}, []
    for sp in splits:
        ds = TaskonomyDataset(data_root, split=sp, tasks=[])
        ys = []
        for i, key in enumerate(ds.keys):
            p = label_path(ds.index, key, t)
            if p is None:
                png = ds.index.path(key, t.name)
                errors.append(f"missing label file {png} (or .npy)" if t.kind in PIXEL_KINDS
                              else f"missing label file {png.with_suffix('.npy')}")
                continue
            try:
                y = decode_label(t, p)
                if t.kind in PIXEL_KINDS:
                    side = ds.rgb(i).shape[-1]
                    if tuple(y.shape[-2:]) != (side, side):
                        raise OwnTaskError(f"label file {p} is {tuple(y.shape[-2:])} pixels, "
                                           f"the view's image {side} x {side}")
                ys.append(y)
            except OwnTaskError as e:
                errors.append(str(e))
        if not errors:
            x = torch.stack([ds.rgb(i) for i in range(len(ds))])
            out[sp] = (_stack(t, ys, list(range(len(ys)))), x)
    if errors:
        raise _first_errors(errors, f"own task {t.name} (domain folder in {data_root})")
    return out


def image_side(data_root) -> int:
    """Side of the run's images (the CSV's images are resized to it)."""
    from taskonomy.data.dataset import DatasetIndex
    index = DatasetIndex(data_root)
    return int(np.asarray(index.read(index.keys[0], "rgb")).shape[0])


def splits_of(config: dict) -> tuple[str, str]:
    """The names of an own task's (training, test) caches: the run's transfer split and
    evaluation split (a CSV's train and test images too), whose representations a
    Taskonomy-layout task reads from the run's caches."""
    tr = config.get("transfer", {})
    from taskonomy.settings import TRANSFER_DEFAULTS
    return (tr.get("train_split", TRANSFER_DEFAULTS["train_split"]),
            tr.get("eval_split", TRANSFER_DEFAULTS["eval_split"]))


def transfer_settings(config: dict, t: OwnTask) -> dict:
    """Everything that determines the transfers to ``t`` (and its scratch network): the run's
    transfer schedule and model (``transfer``, ``model``) on the task's own splits, ``n`` of
    its training images (None: three quarters, resolved by :func:`resolve_n` once the labels
    are read), the rest of them held out to rank the sources for the higher orders."""
    from taskonomy import settings
    seed = config.get("seed", settings.SEED_DEFAULT)
    size = next(iter(settings.transfer_common(config)["sizes"]))
    train_split, eval_split = splits_of(config)
    return {**settings.transfer_settings(config, t.name, size), "size": "own", "n": t.n,
            "train_split": train_split, "eval_split": eval_split, "heldout": None,
            "subset_seed": settings.derive_seed(seed, f"subset/own/{t.name}"),
            "seed": settings.derive_seed(seed, f"transfer/own/{t.name}")}


def resolve_n(settings: dict, n_train: int) -> dict:
    """``settings`` with ``n`` resolved for ``n_train`` labelled training images."""
    n = settings["n"] if settings["n"] is not None else max(1, (3 * n_train) // 4)
    return {**settings, "n": min(n, n_train)}


def cache_files(out_dir, name: str, split: str) -> dict[str, Path]:
    """The check's caches of a split in ``results/<run>/own/<name>/``: the labels in the
    layout the transfers read (``targets/<name>/<split>.npz``) and the RGB images."""
    out_dir = Path(out_dir)
    return {"targets": out_dir / "targets" / name / f"{split}.npz", "images": out_dir / "images" / f"{split}.pt"}


def check(t: OwnTask, data_root, splits, seed: int = 0, test_share: float = 0.25,
          out_dir: Path | None = None) -> dict:
    """Read and check every label and image of ``t``; with ``out_dir`` write its caches
    (``targets/<name>/<split>.npz``, ``images/<split>.pt``, ``check.json``). Returns the summary."""
    import torch
    from taskonomy.io import atomic_path, write_json
    from taskonomy.labels import save_labels
    if t.csv:
        roles = read_csv_labels(t, image_side(data_root), seed, test_share)
        data = dict(zip(splits, (roles[r] for r in CSV_SPLITS)))
    else:
        data = read_domain_labels(t, data_root, splits)
    summary = {"task": t.to_dict(), "source": t.source, "splits": list(splits),
               "images": {sp: int(len(data[sp][0]["y"])) for sp in splits},
               "label_shape": list(data[splits[0]][0]["y"].shape[1:]),
               "image_shape": list(data[splits[0]][1].shape[1:])}
    if t.kind in CLASS_KINDS:
        y = data[splits[0]][0]["y"]
        summary["class_counts"] = torch.bincount(y.reshape(-1), minlength=t.channels).tolist()
        absent = [c for c, n in enumerate(summary["class_counts"]) if n == 0]
        if absent:
            print(f"warning: own task {t.name}: class(es) {absent} of 0..{t.channels - 1} never occur "
                  f"in the {splits[0]} images", file=sys.stderr)
    if out_dir is not None:
        out_dir = Path(out_dir)
        for sp in splits:
            files = cache_files(out_dir, t.name, sp)
            save_labels(files["targets"], data[sp][0])
            with atomic_path(files["images"]) as tmp:
                torch.save({"x": data[sp][1], "image": data[sp][0]["image"]}, tmp)
        write_json(out_dir / "check.json", summary)
    return summary


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="taskonomy owntask", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check", help="read every label and image of the declared tasks")
    c.add_argument("--config", default="config.yaml", help="check every task of this config")
    c.add_argument("--spec", help="one task's JSON (what the workflow passes) instead of --config")
    c.add_argument("--data", help="data root (default: the config's data.root)")
    c.add_argument("--splits", nargs=2, help="(with --spec) training and test split")
    c.add_argument("--seed", type=int, default=0, help="(with --spec) seed of a CSV's test draw")
    c.add_argument("--test-share", type=float, default=0.25, help="(with --spec) share of test images")
    c.add_argument("--out-dir", type=Path, help="(with --spec) write the caches here")
    a = p.parse_args(argv)
    try:
        if a.spec:
            if not (a.data and a.splits):
                p.error("--spec needs --data and --splits")
            from taskonomy import lineage
            t = from_spec(a.spec)
            started = lineage.now()
            summary = check(t, a.data, tuple(a.splits), a.seed, a.test_share, a.out_dir)
            if a.out_dir is not None:
                outs = [f for sp in a.splits for f in cache_files(a.out_dir, t.name, sp).values()]
                lineage.record([*outs, a.out_dir / "check.json"], [t.csv] if t.csv else [],
                               params={"task": t.to_dict(), "splits": a.splits, "seed": a.seed,
                                       "test_share": a.test_share},
                               data=a.data, started=started)
            print(json.dumps(summary))
            return 0
        from taskonomy.config import load_config
        cfg = load_config(a.config)
        share = cfg["own_tasks"]["test_share"]
        tasks = declared(cfg)
        if not tasks:
            print(f"{a.config}: no own_tasks declared")
        from taskonomy.settings import derive_seed
        for t in tasks:
            s = check(t, a.data or cfg["data"]["root"], splits_of(cfg),
                      derive_seed(cfg["seed"], f"own/{t.name}"), share)
            print(f"{t.name}: ok ({t.kind}, {t.channels} channel(s), {t.source}); "
                  + ", ".join(f"{n} {sp} images" for sp, n in s["images"].items()))
    except (OwnTaskError, ConfigError, FileNotFoundError) as e:
        print(f"taskonomy owntask: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
