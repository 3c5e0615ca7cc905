"""Cache what Stage II reads: a frozen encoder's representations of every image of a split, and
a target's labels on a split.

    taskonomy encode --model results/default/tasks/normal/model.pt --data data/synth \
        --split val --out results/default/reps/normal/val.npy
    taskonomy encode --targets --task fixated_pose --data data/synth --split test \
        --out results/default/targets/fixated_pose/test.npz

Representations: ``N x 8 x h x w`` (float16 by default), row i = image index i of
``TaskonomyDataset(split)``. Targets: a label cache (``taskonomy.labels``: y, optional mask m,
image, views = per-sample image indices used to gather representations of multi-view targets,
channels), written batch by batch like the representations.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from taskonomy import engine, lineage
from taskonomy.io import atomic_path
from taskonomy.tasks import resolve


def checkpoint_channels(state_dict) -> int | None:
    """The output width a task network was trained with (its output scale's length; None for
    the random encoder, which has no decoder)."""
    mean = state_dict.get("scale.mean")
    return None if mean is None else int(mean.numel())


def load_task_network(model_path):
    """Rebuild a trained (or random) task network from its model.pt."""
    from taskonomy.models import ModelSettings, create_model
    ck = engine.load_checkpoint(model_path)
    cfg = json.loads(ck["config"])
    hw = tuple(int(v) for v in ck["input_hw"]) if int(ck["input_hw"][0]) > 0 else (32, 32)
    net = create_model("task_network", task=ck["task"], settings=ModelSettings.from_dict(cfg["model"]),
                       input_hw=hw, channels=checkpoint_channels(ck["state_dict"]))
    net.load_state_dict(ck["state_dict"])
    return net.eval(), ck


def rep_inputs(data_root, split, task):
    """The encoder inputs of every image of ``split``, row i = image index i (what a
    representation cache's rows are)."""
    from taskonomy.stagedata import load_rep_inputs
    data = load_rep_inputs(data_root, split, task)
    if not torch.equal(data.t["image"], torch.arange(len(data))):
        raise RuntimeError(f"{data_root} split {split}: image indices are not 0..N-1 in order")
    return data


@torch.no_grad()
def encode_images(net, x: torch.Tensor, device, batch_size=64) -> torch.Tensor:
    """A frozen network's representations (N, C, h, w) of encoder inputs ``x``, in order."""
    return torch.cat([net.encode(x[i:i + batch_size].float().to(device)).float().cpu()
                      for i in range(0, len(x), batch_size)])


def encode_split(model_path, data_root, split, dtype="float16", device="auto", batch_size=64):
    net, ck = load_task_network(model_path)
    dev = engine.resolve_device(device)
    net.to(dev)
    data = rep_inputs(data_root, split, ck["task"])
    return encode_images(net, data.t["x"], dev, batch_size).numpy().astype(dtype)


def split_inputs(data_root, split, task, batch_size=64, num_workers=0):
    """(number of images, iterator of encoder-input batches) of ``split`` in image-index order,
    decoded batch by batch (``num_workers`` DataLoader workers): what a representation cache's
    rows are, without holding the split."""
    from torch.utils.data import DataLoader

    from taskonomy.stagedata import rep_dataset
    ds, key = rep_dataset(data_root, split, task)
    if not len(ds):
        raise ValueError(f"{data_root} split {split}: no images to encode")

    def batches():
        done = 0
        for b in DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=num_workers):
            idx = b["index"].long()
            if not torch.equal(idx, torch.arange(done, done + len(idx))):
                raise RuntimeError(f"{data_root} split {split}: image indices are not 0..N-1 in order")
            done += len(idx)
            yield b[key]
    return len(ds), batches()


def append_npy(out, n: int, rows, what: str = "rows") -> tuple[int, ...]:
    """Write the ``.npy`` at ``out`` (atomically) from ``rows``, an iterable of arrays whose
    lengths add up to ``n``: the header ``np.save`` writes, then each array as it comes, so the
    file is byte for byte ``np.save`` of their concatenation while memory holds one of them.
    Returns the array's shape."""
    shape, done = None, 0
    with atomic_path(out) as tmp, open(tmp, "wb") as f:
        for a in rows:
            a = np.ascontiguousarray(a)
            if shape is None:
                shape = (n, *a.shape[1:])
                np.lib.format.write_array_header_1_0(
                    f, {"descr": np.lib.format.dtype_to_descr(a.dtype), "fortran_order": False, "shape": shape})
            f.write(a.tobytes())
            done += len(a)
        if shape is None or done != n:   # raised inside: the unfinished file is never renamed into place
            raise RuntimeError(f"{out}: {done} of {n} {what} written")
    return shape


@torch.no_grad()
def encode_split_to_file(model_path, data_root, split, out, dtype="float16", device="auto",
                         batch_size=64, num_workers=0) -> tuple[int, ...]:
    """:func:`encode_split` decoded and encoded batch by batch (DataLoader workers) and appended
    to the ``.npy`` at ``out`` (atomically) as it goes: memory stays flat as the split grows,
    and the file is byte for byte the one ``save_npy(out, encode_split(...))`` writes.
    Returns the array's shape."""
    net, ck = load_task_network(model_path)
    dev = engine.resolve_device(device)
    net.to(dev)
    n, inputs = split_inputs(data_root, split, ck["task"], batch_size, num_workers)
    return append_npy(out, n, (net.encode(x.float().to(dev)).float().cpu().numpy().astype(dtype)
                               for x in inputs), f"images of {data_root} split {split}")


def save_npy(path, arr) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, arr)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="taskonomy encode", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="model.pt of the frozen encoder")
    p.add_argument("--targets", action="store_true", help="cache the labels of --task instead")
    p.add_argument("--task", help="target task (with --targets)")
    p.add_argument("--data", required=True, help="dataset root")
    p.add_argument("--split", required=True, nargs="+", help="one or more splits")
    p.add_argument("--out", required=True, type=Path, nargs="+", help="one output file per split")
    p.add_argument("--dtype", default="float16", choices=["float16", "float32"])
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--num-workers", type=int, default=0,
                   help="DataLoader workers decoding the split batch by batch")
    p.add_argument("--batch-size", type=int, default=64, help="images decoded (and encoded) per batch")
    args = p.parse_args(argv)
    engine.setup_torch(args.threads, 0)
    if len(args.split) != len(args.out):
        p.error(f"{len(args.split)} splits but {len(args.out)} output files")
    if args.targets and not args.task:
        p.error("--targets needs --task")
    if not args.targets and not args.model:
        p.error("--model is required (or --targets)")
    started = lineage.now()
    for split, out in zip(args.split, args.out):
        t0 = time.perf_counter()
        if args.targets:
            from taskonomy.labels import write_labels
            from taskonomy.stagedata import output_channels, target_batches
            task = resolve(args.task)
            shapes = write_labels(out, target_batches(args.data, split, task, num_workers=args.num_workers,
                                                         batch_size=args.batch_size),
                                  scalars={"channels": output_channels(args.data, task)})
            info = {"task": args.task, "n": shapes["y"][0]}
        else:
            shape = encode_split_to_file(args.model, args.data, split, out, args.dtype, args.device,
                                         batch_size=args.batch_size, num_workers=args.num_workers)
            info = {"model": args.model, "shape": list(shape)}
        print(json.dumps({**info, "split": split, "out": str(out),
                          "seconds": round(time.perf_counter() - t0, 2)}))
    lineage.record(args.out, [] if args.targets else [args.model], data=args.data, started=started,
                   params={k: v for k, v in vars(args).items() if k not in ("out", "threads", "batch_size")})
    return 0


if __name__ == "__main__":
    sys.exit(main())
