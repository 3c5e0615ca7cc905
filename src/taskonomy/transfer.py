"""Stage II: train one transfer function on cached representations, and rank a target's sources.

    taskonomy transfer --config config.yaml --target normal --sources depth_zbuffer+reshading \
        --size 16k --reps results/default/reps --targets results/default/targets \
        --out results/default/transfers/16k/normal/depth_zbuffer+reshading
    taskonomy transfer --target normal reshading --sources depth_zbuffer --size 16k ... \
        --out-root results/default/transfers/16k          # one job, several targets
    taskonomy transfer --rank --target normal --size 16k --max-order 3 \
        --inputs results/default/transfers/16k/normal/*/heldout.parquet --out results/default/beam/16k/normal.json \
        [--train-higher --reps ... --targets ... --out-root results/default/transfers/16k]

A transfer reads the frozen sources' representations (``reps/<src>/<split>.npy``), concatenates
them channel-wise (higher order), and trains the 2-conv readout + a fresh target decoder on
``n`` images of the transfer split (the same images for every source of a target and size),
then writes per-image losses on the test split (``losses.parquet``, what Stage III scores) and
on the transfer split's images it did not train on (``heldout.parquet``). Multi-view targets
gather each view's representation by image index.

``--rank`` (the beam, ``taskonomy.beam``) orders a target's first-order sources by their mean
held-out loss, so the choice of the higher-order source sets never looks at the test images
that the tournaments and AHP then score (no selection on the scored images). Where the
transfer split has no images left over (``n`` >= its size) the held-out files are empty and
the beam ranks on the test losses beside them, saying so in the beam file (``ranked_on``).
With ``--train-higher`` it trains the higher-order transfers it selects, each into the folder
named by its rank positions (``<out-root>/<target>/top1+top2/``, the outputs the workflow
declares); the beam file maps each position name to its source set (``positions``).

Pruning (``--prune-top m --proxy .../<target>/scores.json ...``, config ``transfer.prune``): a
first-order transfer trains only if its source is among the target's m best by the Stage II
proxy (``taskonomy.proxy``; ``random`` always); the others get the stand-in of
:func:`write_pruned`, which the beam does not rank and Stage III leaves out.

Result store (``--store DIR``, config ``transfer.reuse``): a transfer's result depends only on
its resolved settings, its source order, the bytes of the representation / target caches it
reads and the code and torch version that train it. ``run_transfer`` hashes these into a key;
if ``DIR/<key[:2]>/<key>/`` exists it copies the stored files into the output folder and logs
``reused <key>`` instead of training, else it trains and stores the result. Batched jobs
(every transfer of one source; a target's beam and higher orders) are rerun by Snakemake whenever any of their
outputs is out of date, so the store is what keeps the unchanged transfers in them from being
retrained. Entries are complete directories renamed into place (a killed job leaves only a
``.*.tmp`` folder; two writers of one key: the first rename wins). Clean with
``rm -rf results/<run>/.store``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from taskonomy import engine, lineage
from taskonomy.beam import PRUNED, kept_sources
from taskonomy.beam import higher_order_sets, rank_sources  # noqa: F401  (the beam; re-exported)
from taskonomy.codehash import stage_code
from taskonomy.io import atomic_path, write_json
from taskonomy.labels import Labels, load_labels, release_pages
from taskonomy.losses import per_image_loss
from taskonomy.metrics import per_image_metrics
from taskonomy.stagedata import heldout_indices, subset_indices
from taskonomy.tasks import SIAMESE, TASKS, parse_source_set, resolve, source_set_name
from taskonomy.train import class_weights

def load_reps(reps_dir, sources, split) -> torch.Tensor:
    arrs = []
    for s in sources:
        path = Path(reps_dir) / s / f"{split}.npy"
        if not path.exists():
            raise FileNotFoundError(f"representation cache {path} missing (source {s!r}, split {split!r})")
        arrs.append(np.load(path).astype(np.float32))
    shapes = {a.shape[0] for a in arrs} | set()
    if len(shapes) != 1:
        raise ValueError(f"sources {sources} have different image counts on {split}: {shapes}")
    return torch.from_numpy(np.concatenate(arrs, axis=1))


def open_reps(reps_dir, sources, split) -> list[np.ndarray]:
    """The sources' representation caches of ``split``, memory-mapped (read as rows are used)."""
    arrs = []
    for s in sources:
        path = Path(reps_dir) / s / f"{split}.npy"
        if not path.exists():
            raise FileNotFoundError(f"representation cache {path} missing (source {s!r}, split {split!r})")
        arrs.append(np.load(path, mmap_mode="r"))
    if len({a.shape[0] for a in arrs}) != 1:
        raise ValueError(f"sources {sources} have different image counts on {split}: "
                         f"{ {s: a.shape[0] for s, a in zip(sources, arrs)} }")
    return arrs


def gather_reps(arrays: list[np.ndarray], views: torch.Tensor, siamese: bool) -> torch.Tensor:
    """Rows ``views`` (N, V) of the sources' caches, channels concatenated, as float32:
    (N, V, C, h, w), or (N, C, h, w) for single-view targets (what :func:`transfer_data` builds
    from :func:`load_reps`, value for value)."""
    rows = views.reshape(-1).numpy()
    x = torch.from_numpy(np.concatenate([np.asarray(a[rows]).astype(np.float32) for a in arrays], axis=1))
    x = x.view(len(views), views.shape[1], *x.shape[1:])
    return x if siamese else x[:, 0]


class RepGather:
    """:func:`transfer_data`'s samples with the inputs read per batch from the memory-mapped
    caches (``open_reps``) instead of gathered into memory: an evaluation split of any size in
    flat memory. ``t`` holds y, (m), image, views; batches are those of ``TensorData``."""

    def __init__(self, arrays: list[np.ndarray], targets: dict, target: str, idx=None):
        self.arrays, self.siamese = arrays, TASKS[target].kind == SIAMESE
        self.labels = targets if isinstance(targets, Labels) and idx is None else None
        keep = {k: v for k, v in targets.items() if k in ("y", "m", "image", "views")}
        if idx is not None:
            keep = {k: v[idx] for k, v in keep.items()}
        self.t, self.n = keep, len(keep["views"])

    def __len__(self):
        return self.n

    def batches(self, batch_size: int, generator: torch.Generator | None = None):
        for sel in engine.batch_plan(self.n, batch_size, generator):
            yield self._gather(sel)
            self.release()

    def release(self) -> None:
        """Hand back the pages of the caches read so far (``labels.release_pages``): an
        evaluation split scored batch by batch keeps one batch resident, whatever its size."""
        for a in self.arrays:
            release_pages(a)
        if self.labels is not None:
            self.labels.release()

    def _gather(self, sel) -> dict:
        return {"x": gather_reps(self.arrays, self.t["views"][sel], self.siamese),
                **{k: v[sel] for k, v in self.t.items() if k != "views"}}

    def in_memory(self) -> engine.TensorData:
        """Every sample gathered at once (the images a transfer trains on)."""
        return engine.TensorData(self._gather(torch.arange(self.n)))


def transfer_data(reps: torch.Tensor, targets: dict, target: str, idx=None) -> engine.TensorData:
    """Inputs gathered per sample: (N, C, h, w) or (N, V, C, h, w) for multi-view targets."""
    views = targets["views"]
    keep = {k: v for k, v in targets.items() if k in ("y", "m", "image")}
    if idx is not None:
        views, keep = views[idx], {k: v[idx] for k, v in keep.items()}
    x = reps[views.reshape(-1)].view(len(views), views.shape[1], *reps.shape[1:])
    if TASKS[target].kind != SIAMESE:
        x = x[:, 0]
    return engine.TensorData({"x": x, **keep})


# ---------------------------------------------------------------- result store
STORE_FORMAT = 1
# what a transfer writes into its folder and the store keeps (checkpoint.pt is deleted)
STORE_FILES = ("losses.parquet", "heldout.parquet", "metrics.json", "train.jsonl")
# what a stored entry must have to be reused (older entries without held-out losses are misses)
STORE_REQUIRED = ("losses.parquet", "heldout.parquet", "metrics.json")
def transfer_inputs(settings: dict, sources, reps_dir, targets_dir) -> dict[str, Path]:
    """The files a transfer reads, by role (``reps/<src>/<split>``, ``targets/<t>/<split>``),
    in the order of ``sources``."""
    splits = list(dict.fromkeys([settings["train_split"], settings["eval_split"]]))
    out = {f"reps/{s}/{sp}": Path(reps_dir) / s / f"{sp}.npy" for s in sources for sp in splits}
    out.update({f"targets/{settings['target']}/{sp}": Path(targets_dir) / settings["target"] / f"{sp}.npz"
                for sp in splits})
    return out


def code_hash() -> str:
    """The code that trains and evaluates a transfer (``taskonomy.codehash``): the same hash
    the workflow's transfer rules carry as their ``code`` param, so a job that reruns because
    its code changed never reuses a result of the old code."""
    return stage_code("taskonomy.transfer")


def store_key(settings: dict, sources, inputs: dict[str, Path], device: str) -> tuple[str, dict]:
    """(key, manifest). The manifest holds everything the result depends on: the resolved
    settings (target, size, n, subset seed, seed, epochs, batch size, lr, model), the source
    order (the channel order of the concatenated representations), each input's sha256 by role
    (not by path: a copied or renamed run still hits), the device type, torch / numpy versions
    and the training code. Thread counts are left out (like Snakemake, which reruns nothing for
    ``resources.*``). File hashes are cached per process (``lineage.file_sha256``)."""
    for role, p in inputs.items():
        if not p.exists():
            kind = "representation" if role.startswith("reps/") else "target"
            raise FileNotFoundError(f"{kind} cache {p} missing ({role})")
    manifest = {"format": STORE_FORMAT, "settings": settings, "sources": list(sources),
                "inputs": {role: lineage.file_sha256(p) for role, p in inputs.items()},
                "device": device, "torch": torch.__version__, "numpy": np.__version__,
                "code": code_hash()}
    blob = json.dumps(manifest, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest(), manifest


def store_entry(store: Path, key: str) -> Path:
    return Path(store) / key[:2] / key


def store_get(store: Path, key: str, out: Path) -> bool:
    """Copy a stored result into ``out`` (each file atomically); False if there is none."""
    entry = store_entry(store, key)
    try:
        ok = json.loads((entry / "key.json").read_text()).get("key") == key
    except (OSError, ValueError):
        return False
    if not ok or not all((entry / n).is_file() for n in STORE_REQUIRED):
        print(f"ignoring store entry {entry}: incomplete or not for this key", flush=True)
        return False
    out.mkdir(parents=True, exist_ok=True)
    for name in STORE_FILES:
        src = entry / name
        if not src.is_file():
            if (out / name).exists():
                os.remove(out / name)      # not part of this result (e.g. no train.jsonl)
            continue
        tmp = out / f".{name}.tmp.{os.getpid()}"
        shutil.copyfile(src, tmp)            # a fresh mtime: newer than the job's inputs
        os.replace(tmp, out / name)
    engine.cleanup_checkpoint(out)
    return True


def store_put(store: Path, key: str, manifest: dict, out: Path) -> bool:
    """Put ``out``'s result files under the key: built in a temporary folder, renamed into
    place, so an entry is complete or absent. False if another process stored the key first
(its entry is kept)."""
    entry = store_entry(store, key)
    if (entry / "key.json").is_file():
        return False
    entry.parent.mkdir(parents=True, exist_ok=True)
    # dot-named *.tmp: ignored by git and DVC (.gitignore, .dvcignore) like taskonomy.io's
    tmp = entry.parent / f".{key[:16]}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.mkdir()
    try:
        for name in STORE_FILES:
            if (out / name).is_file():
                shutil.copyfile(out / name, tmp / name)
        write_json(tmp / "key.json", {"key": key, **manifest})
        try:
            os.rename(tmp, entry)
        except OSError:                      # the entry appeared meanwhile: keep the first
            return False
        return True
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def run_transfer(settings: dict, sources, reps_dir, targets_dir, out: Path, threads=None,
                 store=None) -> dict:
    """Train (or, with ``store``, reuse) one transfer into ``out``; returns its metrics.json."""
    target = settings["target"]
    seed = settings["seed"]
    out = Path(out)
    device = engine.start_job(settings, out, threads)
    name = source_set_name(sources)
    inputs = transfer_inputs(settings, sources, reps_dir, targets_dir)
    # the key is also the checkpoint's config: a killed job resumes only on the same inputs
    key, manifest = store_key(settings, sources, inputs, device.type)
    if store is not None:
        if store_get(store, key, out):
            print(f"reused {key} for {name}->{target} (store {store_entry(store, key)}): not trained",
                  flush=True)
            metrics = json.loads((out / "metrics.json").read_text())
            _record(out, inputs, {**settings, "sources": list(sources), "reused_from": key}, seed)
            return metrics
    metrics = _train_transfer(settings, sources, reps_dir, targets_dir, out, device, key)
    if store is not None:
        stored = store_put(store, key, manifest, out)
        print(f"trained {name}->{target}; " + (f"stored {key}" if stored else f"{key} was stored by another job"),
              flush=True)
    _record(out, inputs, {**settings, "sources": list(sources), "store_key": key}, seed)
    return metrics


def train_positions(positions: dict[str, str], settings: dict, reps_dir, targets_dir, out_root: Path,
                    threads=None, store=None) -> dict[str, float]:
    """Train (or reuse) the beam's higher-order transfers, each into ``out_root/<position>``
    (``top1+top2``); returns {source set: mean test loss}."""
    losses = {}
    for position, name in positions.items():
        m = run_transfer(settings, list(parse_source_set(name)), reps_dir, targets_dir,
                         Path(out_root) / position, threads, store=store)
        losses[name] = m["test"]["loss"]
    return losses


def _record(out: Path, inputs: dict[str, Path], params: dict, seed: int) -> None:
    files = [out / n for n in STORE_FILES if (out / n).is_file()]
    lineage.record(outputs=files, inputs=list(inputs.values()), params=params, seed=seed)


@dataclass
class TransferSetup:
    """A transfer ready to train: its data, the untrained network (seeded), the schedule and
    the per-image loss on the training data."""
    train: engine.TensorData
    test: engine.TensorData
    heldout: engine.TensorData | None    # the transfer split's images not trained on
    net: torch.nn.Module
    opt: engine.OptimSettings
    loss_fn: Callable
    w_eval: torch.Tensor | None
    load_seconds: float


def setup_transfer(settings: dict, sources, reps_dir, targets_dir) -> TransferSetup:
    """Load the transfer's images (``n`` of the transfer split, the whole test split) and build
    its network: the readout over the concatenated sources + a fresh target decoder."""
    from taskonomy.models import ModelSettings, create_model, fit_output_scale
    target = settings["target"]
    tr = settings["train"]
    t0 = time.perf_counter()
    tsplit, esplit = settings["train_split"], settings["eval_split"]
    # label caches and representation caches are memory-mapped: the training and held-out
    # images are gathered into memory (the transfer size, not the split), the evaluation split
    # is read batch by batch
    tg_train = load_labels(Path(targets_dir) / target / f"{tsplit}.npz")
    tg_test = load_labels(Path(targets_dir) / target / f"{esplit}.npz")
    idx = subset_indices(len(tg_train["y"]), settings["n"], settings["subset_seed"])
    reps_train = open_reps(reps_dir, sources, tsplit)
    train = RepGather(reps_train, tg_train, target, idx).in_memory()
    # settings written before `heldout` existed held out every image not trained on
    ho = heldout_indices(len(tg_train["y"]), settings["n"], settings.get("heldout"),
                         settings["subset_seed"])
    heldout = None if ho is None else RepGather(reps_train, tg_train, target, ho)
    test = RepGather(open_reps(reps_dir, sources, esplit), tg_test, target)
    load_s = time.perf_counter() - t0
    rep_hw = tuple(train.t["x"].shape[-2:])
    out_hw = tuple(train.t["y"].shape[-2:]) if train.t["y"].dim() >= 3 else (0, 0)
    stride = 2 ** round(math.log2(out_hw[0] / rep_hw[0])) if out_hw[0] else 8
    torch.manual_seed(settings["seed"])
    # the output width the targets were cached with (the release's class counts; older caches: none)
    channels = int(tg_train["channels"]) if "channels" in tg_train else None
    net = create_model("transfer_network", target=target, n_sources=len(sources),
                       settings=ModelSettings.from_dict(settings["model"]),
                       rep_hw=rep_hw, stride=stride, out_hw=out_hw, channels=channels)
    fit_output_scale(net, target, train.t["y"], train.t.get("m"))
    opt = engine.OptimSettings(tr["epochs"], tr["batch_size"], tr["lr"], tr.get("weight_decay", 0.0))
    w_train = class_weights(target, train.t["y"], train.t.get("m"), channels)
    w_eval = class_weights(target, test.t["y"], test.t.get("m"), channels)

    def loss_fn(model, b):
        return per_image_loss(target, model(b["x"]), b["y"], b.get("m"), w_train)

    return TransferSetup(train, test, heldout, net, opt, loss_fn, w_eval, load_s)


def _train_transfer(settings: dict, sources, reps_dir, targets_dir, out: Path, device, key: str) -> dict:
    target = settings["target"]
    seed = settings["seed"]
    st = setup_transfer(settings, sources, reps_dir, targets_dir)
    net, train, test, w_eval = st.net, st.train, st.test, st.w_eval

    def eval_fn(model, b):
        pred = model(b["x"]).float()
        res = {"loss": per_image_loss(target, pred, b["y"], b.get("m"), w_eval)}
        res.update(per_image_metrics(target, pred, b["y"], b.get("m")))
        return res

    name = source_set_name(sources)
    t1 = time.perf_counter()
    records = engine.fit(net, st.loss_fn, train, st.opt, seed=seed, device=device, workdir=out,
                         config={**settings, "sources": name, "key": key}, desc=f"{name}->{target}")
    train_s = time.perf_counter() - t1
    res = engine.predict_per_image(net, test, eval_fn, device)
    df = engine.write_losses(out / "losses.parquet", test.t["image"], res)
    if st.heldout is not None:
        ho = engine.predict_per_image(net, st.heldout, eval_fn, device)
        engine.write_losses(out / "heldout.parquet", st.heldout.t["image"], ho)
    else:                                    # nothing held out: an empty table, same columns
        engine.write_losses(out / "heldout.parquet", torch.zeros(0, dtype=torch.long),
                            {k: torch.zeros(0) for k in res})
    metrics = {"target": target, "sources": name, "order": len(sources), "size": settings["size"],
               "n_train": len(train), "n_test": len(test),
               "n_heldout": 0 if st.heldout is None else len(st.heldout),
               "test": {k: float(df[k].mean()) for k in df.columns if k != "image"},
               "final_train_loss": records[-1]["loss"] if records else None,
               "load_seconds": round(st.load_seconds, 2), "train_seconds": round(train_s, 2),
               "config": settings}
    write_json(out / "metrics.json", metrics)
    engine.cleanup_checkpoint(out)
    return metrics


def write_pruned(out: Path, target: str, sources, proxy: dict) -> dict:
    """The stand-in of a transfer that ``transfer.prune`` does not train (its source is not
    among the proxy's best for ``target``): loss files with no rows and a ``pruned`` column
    (``beam.is_pruned``: the beam does not rank it, Stage III leaves it out of the tournament)
    and a metrics.json that says so, so that every declared output exists."""
    import pandas as pd
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    empty = pd.DataFrame({"image": pd.Series([], dtype="int64"), "loss": pd.Series([], dtype="float64"),
                          PRUNED: pd.Series([], dtype="bool")})
    for name in ("losses.parquet", "heldout.parquet"):
        with atomic_path(out / name) as tmp:
            empty.to_parquet(tmp, index=False)
    for name in ("train.jsonl", "checkpoint.pt"):
        if (out / name).exists():
            os.remove(out / name)
    metrics = {"target": target, "sources": source_set_name(sources), "order": len(sources), PRUNED: True,
               **proxy}
    write_json(out / "metrics.json", metrics)
    return metrics


def _settings_for(args, target: str) -> dict:
    """This target's resolved settings: from --settings (one target's dict, or
    {"per_target": {target: dict}} for a batch) or resolved from --config."""
    if args.settings:
        s = json.loads(args.settings)
        return s["per_target"][target] if "per_target" in s else s
    from taskonomy.config import load_config
    from taskonomy.settings import transfer_settings
    return transfer_settings(load_config(args.config), target, args.size)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="taskonomy transfer", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", required=True, nargs="+", help="target task(s); several: one job trains all")
    p.add_argument("--size", required=True, help="transfer-data size name (config transfer.sizes)")
    p.add_argument("--out", type=Path, help="output folder (one target) or beam json (--rank)")
    p.add_argument("--out-root", type=Path, help="write <out-root>/<target>/<sources>/ (transfers/<size>)")
    p.add_argument("--sources", help="source set, e.g. depth_zbuffer+reshading")
    p.add_argument("--reps", help="folder of cached representations (reps/<src>/<split>.npy)")
    p.add_argument("--targets", help="folder of cached targets (targets/<task>/<split>.npz)")
    p.add_argument("--config", default="config.yaml")
    p.add_argument("--settings", help="resolved settings as JSON (what the rule passes)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--store", type=Path, default=None,
                   help="result store: reuse a transfer whose key is there, store new ones "
                        "(config transfer.reuse; e.g. results/<run>/.store/transfers)")
    p.add_argument("--reuse", type=int, choices=(0, 1), default=1,
                   help="0: train every transfer, do not use --store (config transfer.reuse: false)")
    p.add_argument("--prune-top", type=int, default=None,
                   help="transfer.prune.top: train a target only if the source is among the proxy's "
                        "best (--proxy); else write the pruned stand-in (write_pruned)")
    p.add_argument("--proxy", nargs="*", default=[],
                   help="(--prune-top) proxy/<size>/<target>/scores.json of every target (taskonomy.proxy)")
    p.add_argument("--rank", action="store_true", help="rank first-order sources -> beam json")
    p.add_argument("--train-higher", action="store_true",
                   help="(--rank) also train the beam's higher-order transfers into "
                        "<out-root>/<target>/<rank positions>/ (e.g. top1+top2)")
    p.add_argument("--inputs", nargs="*", default=[],
                   help="(--rank) first-order heldout.parquet (or losses.parquet) files")
    p.add_argument("--max-order", type=int, default=None)
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--beam-width", type=int, default=None)
    args = p.parse_args(argv)
    if not args.reuse:
        args.store = None
    targets = [resolve(t) for t in args.target]
    if args.rank:
        from taskonomy.settings import TRANSFER_DEFAULTS
        d = TRANSFER_DEFAULTS
        if len(targets) != 1 or not args.out:
            p.error("--rank takes one --target and --out")
        target = targets[0]
        started = lineage.now()
        res = rank_sources(target, args.size, args.inputs, args.max_order or d["max_order"],
                           args.top_k or d["top_k"], args.beam_width or d["beam_width"])
        if args.train_higher:
            if not (args.reps and args.targets and args.out_root):
                p.error("--train-higher needs --reps, --targets and --out-root")
            res["higher_losses"] = train_positions(res["positions"], _settings_for(args, target), args.reps,
                                                   args.targets, args.out_root / target, args.threads, args.store)
        write_json(args.out, res)
        # The beam's own record: it reads the first-order losses; the higher-order transfers it
        # trained carry their own sidecars (run_transfer).
        lineage.record([args.out], args.inputs,
                       params={k: res[k] for k in ("target", "size", "max_order", "top_k", "beam_width")},
                       started=started)
        print(json.dumps({k: res[k] for k in ("target", "ranked", "positions")}))
        return 0
    if not (args.sources and args.reps and args.targets):
        p.error("--sources, --reps and --targets are required (or --rank)")
    if len(targets) > 1 and not args.out_root:
        p.error("several targets need --out-root")
    if not (args.out or args.out_root):
        p.error("--out or --out-root is required")
    sources = [resolve(x) for x in parse_source_set(args.sources)]
    name = source_set_name(sources)
    for target in targets:
        if target in sources:
            p.error(f"target {target!r} cannot be its own source (that is the task network, 'self')")
    proxy_files = {Path(f).parent.name: Path(f) for f in args.proxy}
    ranked = {t: json.loads(f.read_text())["ranked"] for t, f in proxy_files.items()}
    for target in targets:
        out = args.out if (args.out and len(targets) == 1) else args.out_root / target / name
        if args.prune_top is not None and len(sources) == 1:
            if target not in ranked:
                p.error(f"--prune-top needs the proxy scores of {target!r} (--proxy .../{target}/scores.json)")
            if sources[0] not in kept_sources(ranked[target], args.prune_top):
                m = write_pruned(out, target, sources, {"proxy_rank": ranked[target].index(sources[0]) + 1,
                                                        "prune_top": args.prune_top})
                lineage.record([out / n for n in STORE_FILES if (out / n).is_file()], [proxy_files[target]],
                               params={"prune_top": args.prune_top, "sources": list(sources)})
                print(json.dumps(m))
                continue
        m = run_transfer(_settings_for(args, target), sources, args.reps, args.targets, out, args.threads,
                         store=args.store)
        print(json.dumps({k: v for k, v in m.items() if k != "config"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
