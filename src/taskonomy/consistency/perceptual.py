"""Train one Y -> Z network of the consistency graph on ground truth (train split), evaluate
it on the test split. Y = rgb gives the direct RGB -> Z networks the energy compares against.

    python -m taskonomy.consistency.perceptual --y normal --z principal_curvature \
        --data data/synth --out results/default/consistency/perceptual/normal__principal_curvature \
        [--settings '<json from the rule>' | --config config.yaml] [--threads N]

Writes ``model.pt`` (state_dict, arch, resolved settings; ``weights_only`` loadable),
``metrics.json``, ``train.jsonl``; resumes from ``checkpoint.pt`` after a kill.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from taskonomy import engine
from taskonomy.losses import per_image_loss
from taskonomy.tasks import resolve

from .data import channels, key, load_domains, mask_of
from .settings import perceptual_settings
from .unet import UNet


def build_unet(y: str, z: str, unet: dict) -> tuple[UNet, dict]:
    arch = {"name": "unet", "in_channels": channels(y), "out_channels": channels(z), **unet}
    from taskonomy.models import create_model
    return create_model("unet", **{k: v for k, v in arch.items() if k != "name"}), arch


def train_pair(s: dict, data_root: str, out: Path, threads: int | None = None) -> dict:
    y, z, tr = s["y"], s["z"], s["train"]
    device = engine.start_job(s, out, threads)
    t0 = time.perf_counter()
    train = load_domains(data_root, "train", [y, z], s.get("size"), tr.get("limit"),
                         subset_seed=s["seed"])
    test = load_domains(data_root, "test", [y, z], s.get("size"))
    load_s = time.perf_counter() - t0
    torch.manual_seed(s["seed"])
    net, arch = build_unet(y, z, s["unet"])

    def loss_fn(model, b):
        return per_image_loss(z, model(b[key(y)]), b[key(z)], mask_of(b, z))

    opt = engine.OptimSettings(tr["epochs"], tr["batch_size"], tr["lr"])
    t1 = time.perf_counter()
    records = engine.fit(net, loss_fn, train, opt, seed=s["seed"], device=device, workdir=out,
                         config=s, desc=f"{y}->{z}")
    train_s = time.perf_counter() - t1
    res = engine.predict_per_image(net, test, lambda m, b: {"loss": loss_fn(m, b)}, device)
    hw = list(train.t["rgb"].shape[-2:])
    engine.save_model(out / "model.pt", {k: v.cpu() for k, v in net.state_dict().items()},
                      {"config": s, "arch": arch, "input": y, "output": z, "input_hw": hw})
    metrics = {"y": y, "z": z, "n_train": len(train), "n_test": len(test),
               "test_loss": float(res["loss"].mean()), "final_train_loss": records[-1]["loss"],
               "load_seconds": round(load_s, 2), "train_seconds": round(train_s, 2),
               "device": str(device), "config": s}
    engine.write_json_atomic(out / "metrics.json", metrics)
    engine.cleanup_checkpoint(out)
    return metrics


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m taskonomy.consistency.perceptual", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--y", required=True, help="input domain (rgb or a pixel task)")
    p.add_argument("--z", required=True, help="output domain (a pixel task)")
    p.add_argument("--data", required=True, help="dataset root")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--config", default="config.yaml")
    p.add_argument("--settings", help="resolved settings as JSON (what the rule passes)")
    p.add_argument("--threads", type=int, default=None)
    a = p.parse_args(argv)
    y = "rgb" if a.y == "rgb" else resolve(a.y)
    z = resolve(a.z)
    if a.settings:
        s = json.loads(a.settings)
    else:
        from taskonomy.config import load_config
        s = perceptual_settings(load_config(a.config), y, z)
    if (s["y"], s["z"]) != (y, z):
        print(f"settings are for {s['y']}->{s['z']}, not {y}->{z}", file=sys.stderr)
        return 2
    from taskonomy import lineage
    with lineage.track([a.out / "model.pt", a.out / "metrics.json"], params=s, seed=s["seed"], data=a.data):
        m = train_pair(s, a.data, a.out, a.threads)
    print(json.dumps({k: v for k, v in m.items() if k != "config"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
