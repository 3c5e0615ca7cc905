"""Benchmark: a transfer trained on cached representations vs recomputing the frozen encoder.

    .venv/bin/python bench/transfer.py [--data DIR] [--size 64] [--encoder resnet_tiny] [--epochs 5]

Same run, same data, same readout + decoder, same number of steps: (a) encode the transfer
images once, then train from the cache (the pipeline's way; the encode time is included);
(b) run the frozen encoder on every batch of every epoch. Also measures images/s of training
a whole task network on CPU. Without --data it writes a small synthetic set to a temp folder.
Results go to stdout as a Markdown table (recorded in bench/transfer.md).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from taskonomy import engine
from taskonomy.losses import per_image_loss
from taskonomy.models import create_model
from taskonomy.settings import ModelSettings
from taskonomy.stagedata import load_task_split


def timed_fit(net, loss_fn, data, epochs, batch_size, workdir):
    t0 = time.perf_counter()
    engine.fit(net, loss_fn, data, engine.OptimSettings(epochs, batch_size, 1e-3), seed=0,
               device=torch.device("cpu"), workdir=workdir, config={"bench": str(workdir)},
               params=[p for p in net.parameters() if p.requires_grad])
    return time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="dataset root (default: synthesise one)")
    p.add_argument("--size", type=int, default=64, help="image side when synthesising")
    p.add_argument("--encoder", default="resnet_tiny")
    p.add_argument("--target", default="normal")
    p.add_argument("--n", type=int, default=128, help="transfer images")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    engine.setup_torch(args.threads, 0)
    tmp = Path(tempfile.mkdtemp(prefix="bench_transfer_"))
    root = args.data
    if root is None:
        root = str(tmp / "data")
        subprocess.run([sys.executable, "-m", "taskonomy.data.cli", "synth", "--out", root, "--buildings", "12",
                        "--points", "6", "--views", "3", "--size", str(args.size), "--quiet"], check=True)
    ms = ModelSettings(encoder=args.encoder)
    t0 = time.perf_counter()
    data = load_task_split(root, "train", args.target, limit=args.n)
    load_images_s = time.perf_counter() - t0      # what a transfer job without a cache re-reads
    hw = tuple(data.t["x"].shape[-2:])
    torch.manual_seed(0)
    src = create_model("task_network", task="random", settings=ms, input_hw=hw).encoder.eval()
    for q in src.parameters():
        q.requires_grad_(False)
    with torch.no_grad():
        rep_hw = tuple(src(data.t["x"][:1]).shape[-2:])

    def transfer_net():
        torch.manual_seed(1)
        return create_model("transfer_network", target=args.target, settings=ms, rep_hw=rep_hw,
                            stride=src.stride, out_hw=hw if data.t["y"].dim() >= 3 else (0, 0))

    # (a) cached: encode once, train from the cache
    t0 = time.perf_counter()
    with torch.no_grad():
        reps = torch.cat([src(b["x"]) for b in data.batches(64)]).half()
    enc_s = time.perf_counter() - t0
    import numpy as np
    np.save(tmp / "reps.npy", reps.numpy())
    t0 = time.perf_counter()
    reps = torch.from_numpy(np.load(tmp / "reps.npy"))
    load_reps_s = time.perf_counter() - t0        # what a transfer job with the cache reads
    cached = engine.TensorData({"x": reps, **{k: v for k, v in data.t.items() if k in ("y", "m")}})
    net_a = transfer_net()
    fit_a = timed_fit(net_a, lambda m, b: per_image_loss(args.target, m(b["x"].float()), b["y"], b.get("m")),
                      cached, args.epochs, args.batch_size, tmp / "a")

    # (b) recompute the frozen encoder on every batch
    net_b = transfer_net()

    def loss_b(m, b):
        with torch.no_grad():
            r = src(b["x"])
        return per_image_loss(args.target, m(r), b["y"], b.get("m"))
    fit_b = timed_fit(net_b, loss_b, data, args.epochs, args.batch_size, tmp / "b")

    # (c) images/s of task-network training (encoder + decoder), same images
    torch.manual_seed(0)
    tn = create_model("task_network", task=args.target, settings=ms, input_hw=hw)
    fit_c = timed_fit(tn, lambda m, b: per_image_loss(args.target, m(b["x"]), b["y"], b.get("m")),
                      data, 2, args.batch_size, tmp / "c")

    n_img = len(data) * args.epochs
    res = {"encoder": args.encoder, "image_px": hw[0], "rep": list(reps.shape[1:]), "n": len(data),
           "epochs": args.epochs, "threads": args.threads,
           "cached_total_s": round(enc_s + fit_a, 3), "cached_encode_s": round(enc_s, 3),
           "cached_train_img_s": round(n_img / fit_a, 1), "recompute_s": round(fit_b, 3),
           "recompute_img_s": round(n_img / fit_b, 1),
           "speedup_total": round(fit_b / (enc_s + fit_a), 2), "speedup_per_step": round(fit_b / fit_a, 2),
           "task_network_train_img_s": round(len(data) * 2 / fit_c, 1),
           "load_images_s": round(load_images_s, 3), "load_reps_s": round(load_reps_s, 4),
           "speedup_job": round((load_images_s + fit_b) / (load_reps_s + fit_a), 2)}
    print(json.dumps(res))
    print("| encoder | target | px | n x epochs | cached: encode once + train (s) | recompute: train (s) | "
          "speedup train (incl. encode / per step) | per job incl. reading inputs | task-net train img/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.encoder} | {args.target} | {hw[0]} | {len(data)} x {args.epochs} | {enc_s:.2f} + {fit_a:.2f} | "
          f"{fit_b:.2f} | {res['speedup_total']}x / {res['speedup_per_step']}x | {res['speedup_job']}x | "
          f"{res['task_network_train_img_s']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
