"""Consistency energy of a target: the disagreement among the paths that predict the same
domain, for every perceptual domain Z of the target, path X -> Y -> Z (the target network then
the frozen Y -> Z network) against path X -> Z (the direct RGB -> Z network):

    term_Z(x, p) = mean over channels |g_YZ(f(x)) - h_Z(x)|  at pixel p
    energy(x)    = mean_Z (mean_p term_Z(x, p) - mu_Z) / sd_Z        (per image)
    energy(x, p) = mean_Z (term_Z(x, p) - mu'_Z) / sd'_Z               (per pixel)

mu, sd: statistics of the per-image (mu, sd) and per-pixel (mu', sd') terms on the validation
split (the paper's standardisation). Needs no ground truth, so it runs on any image.

    python -m taskonomy.consistency.energy --target normal --data data/synth \
        --models results/default/consistency --ood-dir results/default/consistency/ood \
        --out results/default/consistency/normal/energy [--settings JSON | --config config.yaml]

Writes ``stats.json`` (validation statistics per model), ``test.parquet`` (per test image and
model: energy, error, terms), ``ood.parquet`` (per image of the folder), ``eval.json`` (test
errors per domain directly and through the perceptual networks, for baseline and consistency;
Spearman energy-vs-error; where the folder's images fall among the test energies) and
``energy.png`` (energy vs error on the test split, the folder's images as dashed lines).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from taskonomy import engine
from taskonomy.io import atomic_path
from taskonomy.losses import per_image_loss
from taskonomy.metrics import per_image_metrics
from taskonomy.tasks import resolve

from .data import load_domains, mask_of
from .settings import energy_settings
from .unet import load_unet

MODES = ("baseline", "consistency")


class EnergyModel:
    """The target network and, per perceptual domain Z, the frozen target -> Z and rgb -> Z
    networks; ``stats`` (from ``fit_stats``) turn raw terms into standardised energy."""

    def __init__(self, target_net, percep: dict, direct: dict, stats: dict | None = None):
        self.net, self.percep, self.direct, self.stats = target_net, percep, direct, stats
        self.domains = sorted(percep)

    @classmethod
    def load(cls, models_dir, target: str, mode: str, domains, stats_path=None, device="cpu"):
        models_dir = Path(models_dir)
        net, _ = load_unet(models_dir / target / mode / "model.pt")
        percep, direct = {}, {}
        for z in domains:
            percep[z], _ = load_unet(models_dir / "perceptual" / f"{target}__{z}" / "model.pt")
            direct[z], _ = load_unet(models_dir / "perceptual" / f"rgb__{z}" / "model.pt")
        stats = None
        if stats_path is not None:
            sp = Path(stats_path)
            if not sp.is_file():
                raise FileNotFoundError(f"energy statistics not found: {sp}")
            stats = json.loads(sp.read_text())[mode]
        em = cls(net, percep, direct, stats)
        return em.to(device)

    def to(self, device):
        self.net.to(device)
        for d in (self.percep, self.direct):
            for n in d.values():
                n.to(device)
        return self

    @torch.no_grad()
    def terms(self, rgb) -> tuple[torch.Tensor, dict]:
        """Prediction f(x) and per-pixel terms {Z: (B, 1, H, W)}."""
        pred = self.net(rgb).float()
        return pred, {z: (self.percep[z](pred).float() - self.direct[z](rgb).float()).abs().mean(1, keepdim=True)
                      for z in self.domains}

    def energy(self, terms: dict) -> tuple[torch.Tensor, torch.Tensor]:
        if self.stats is None:
            raise ValueError("energy needs validation statistics (fit_stats / stats.json)")
        img = torch.stack([(terms[z].flatten(1).mean(1) - self.stats[z]["image_mean"]) / self.stats[z]["image_std"]
                           for z in self.domains]).mean(0)
        px = torch.stack([(terms[z] - self.stats[z]["pixel_mean"]) / self.stats[z]["pixel_std"]
                          for z in self.domains]).mean(0)
        return img, px

    def run(self, rgb, batch_size=32, device="cpu"):
        """Batched: prediction, per-image terms {Z: (N,)}, image energy (N,), pixel energy."""
        preds, terms, img, px = [], {z: [] for z in self.domains}, [], []
        for i in range(0, len(rgb), batch_size):
            p, t = self.terms(rgb[i:i + batch_size].to(device))
            preds.append(p.cpu())
            for z in self.domains:
                terms[z].append(t[z].flatten(1).mean(1).cpu())
            if self.stats is not None:
                e, ep = self.energy(t)
                img.append(e.cpu())
                px.append(ep.cpu())
        out = {"pred": torch.cat(preds), "terms": {z: torch.cat(v) for z, v in terms.items()}}
        if self.stats is not None:
            out["energy"], out["energy_map"] = torch.cat(img), torch.cat(px)
        return out


@torch.no_grad()
def fit_stats(em: EnergyModel, rgb, batch_size=32, device="cpu") -> dict:
    """Per domain: mean/std of per-image and per-pixel terms over ``rgb`` (the val split)."""
    img = {z: [] for z in em.domains}
    s1 = {z: 0.0 for z in em.domains}
    s2 = {z: 0.0 for z in em.domains}
    n = 0
    for i in range(0, len(rgb), batch_size):
        _, t = em.terms(rgb[i:i + batch_size].to(device))
        for z in em.domains:
            v = t[z].double()
            img[z].append(v.flatten(1).mean(1).cpu())
            s1[z] += float(v.sum())
            s2[z] += float((v ** 2).sum())
        n += t[em.domains[0]].numel()
    out = {}
    for z in em.domains:
        im = torch.cat(img[z])
        pm = s1[z] / n
        out[z] = {"image_mean": float(im.mean()), "image_std": max(float(im.std(unbiased=False)), 1e-8),
                  "pixel_mean": pm, "pixel_std": max(float(np.sqrt(max(s2[z] / n - pm ** 2, 0.0))), 1e-8)}
    return out


def spearman(a, b) -> float:
    from scipy.stats import spearmanr
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 3 or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(spearmanr(a, b).statistic)


def evaluate(s: dict, data_root: str, models_dir, ood_dir, out: Path) -> dict:
    import pandas as pd
    t, doms = s["target"], list(s["perceptual"])
    device = engine.resolve_device(s.get("device", "auto"))
    val = load_domains(data_root, "val", [t], s.get("size"))
    test = load_domains(data_root, "test", [t] + doms, s.get("size"))
    size = int(test.t["rgb"].shape[-1])
    ood_files, ood = [], None
    if ood_dir is not None:
        from .images import load_folder
        ood_files, ood = load_folder(ood_dir, size)
    stats, rows, ood_rows, summary = {}, [], [], {"target": t, "domains": doms, "n_val": len(val),
                                                  "n_test": len(test), "n_ood": len(ood_files), "models": {}}
    tb = test.t
    y, m = tb[f"y/{t}"], mask_of(tb, t)
    for mode in MODES:
        em = EnergyModel.load(models_dir, t, mode, doms, device=device)
        stats[mode] = fit_stats(em, val.t["rgb"], device=device)
        em.stats = stats[mode]
        r = em.run(tb["rgb"], device=device)
        pred = r["pred"]
        err = per_image_loss(t, pred, y, m)
        extra = per_image_metrics(t, pred, y, m)
        res = {"direct": {"loss": float(err.mean()), **{k: float(v.mean()) for k, v in extra.items()}},
               "through": {}, "perceptual_floor": {}, "direct_rgb_to_z": {}}
        with torch.no_grad():
            for z in doms:
                zt, zm = tb[f"y/{z}"], mask_of(tb, z)
                res["through"][z] = float(per_image_loss(z, em.percep[z](pred), zt, zm).mean())
                res["perceptual_floor"][z] = float(per_image_loss(z, em.percep[z](y), zt, zm).mean())
                res["direct_rgb_to_z"][z] = float(per_image_loss(z, em.direct[z](tb["rgb"]), zt, zm).mean())
        res["through_mean"] = float(np.mean(list(res["through"].values())))
        df = pd.DataFrame({"image": tb["image"].numpy(), "mode": mode, "energy": r["energy"].numpy(),
                           "error": err.numpy(), **{k: v.numpy() for k, v in extra.items()},
                           **{f"term_{z}": r["terms"][z].numpy() for z in doms}})
        rows.append(df)
        res["spearman_energy_error"] = spearman(df["energy"], df["error"])
        if "angular_error" in df:
            res["spearman_energy_angular_error"] = spearman(df["energy"], df["angular_error"])
        res["test_energy"] = {"mean": float(df["energy"].mean()), "median": float(df["energy"].median()),
                              "p95": float(df["energy"].quantile(0.95))}
        if ood is not None:
            ro = em.run(ood, device=device)
            e = ro["energy"].numpy()
            ood_rows.append(pd.DataFrame({"name": [f.name for f in ood_files], "mode": mode, "energy": e,
                                          **{f"term_{z}": ro["terms"][z].numpy() for z in doms}}))
            res["ood_energy"] = {"mean": float(e.mean()), "min": float(e.min()), "max": float(e.max()),
                                 "share_above_test_median": float((e > df["energy"].median()).mean()),
                                 "share_above_test_p95": float((e > df["energy"].quantile(0.95)).mean()),
                                 "share_above_test_max": float((e > df["energy"].max()).mean())}
        summary["models"][mode] = res
    out.mkdir(parents=True, exist_ok=True)
    engine.write_json_atomic(out / "stats.json", stats)
    test_df = pd.concat(rows, ignore_index=True)
    with atomic_path(out / "test.parquet") as tmp:
        test_df.to_parquet(tmp, index=False)
    ood_df = pd.concat(ood_rows, ignore_index=True) if ood_rows else pd.DataFrame(columns=["name", "mode", "energy"])
    with atomic_path(out / "ood.parquet") as tmp:
        ood_df.to_parquet(tmp, index=False)
    plot(test_df, ood_df, t, out / "energy.png", summary)
    summary["config"] = s
    engine.write_json_atomic(out / "eval.json", summary)
    return summary


def plot(test_df, ood_df, target: str, path: Path, summary: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    err_col = "angular_error" if "angular_error" in test_df else "error"
    fig, axes = plt.subplots(1, len(MODES), figsize=(5.2 * len(MODES), 4.2), sharey=True)
    for ax, mode in zip(np.atleast_1d(axes), MODES):
        d = test_df[test_df["mode"] == mode]
        ax.scatter(d[err_col], d["energy"], s=10, alpha=0.6, color="tab:blue", label="test images (synthetic)")
        o = ood_df[ood_df["mode"] == mode] if len(ood_df) else ood_df
        for i, (_, r) in enumerate(o.iterrows()):
            ax.axhline(r["energy"], ls="--", lw=1, color=plt.cm.tab10(1 + i % 9))
            # alternate sides so that the labels of close lines do not overlap
            x0, x1 = ax.get_xlim()
            ax.text(x1 if i % 2 == 0 else x0, r["energy"], f" {Path(r['name']).stem} ", fontsize=7,
                    va="bottom", ha="right" if i % 2 == 0 else "left", color=plt.cm.tab10(1 + i % 9))
        rho = spearman(d["energy"], d[err_col])
        ax.set_title(f"{target}, {mode}: Spearman rho = {rho:.2f} (n={len(d)})", fontsize=9)
        ax.set_xlabel(f"{target} {err_col.replace('_', ' ')} on the test split")
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("consistency energy (z-scored, val statistics)")
    np.atleast_1d(axes)[0].legend(loc="upper left", fontsize=7, title="dashed: real photographs (skimage.data)",
                                  title_fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m taskonomy.consistency.energy", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", required=True)
    p.add_argument("--data", required=True, help="dataset root (val for statistics, test for errors)")
    p.add_argument("--models", required=True, type=Path,
                   help="results/<run>/consistency (holds <target>/<mode>/ and perceptual/)")
    p.add_argument("--ood-dir", type=Path, help="folder of images without ground truth")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--config", default="config.yaml")
    p.add_argument("--settings", help="resolved settings as JSON (what the rule passes)")
    p.add_argument("--threads", type=int, default=None)
    a = p.parse_args(argv)
    t = resolve(a.target)
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.settings:
        s = json.loads(a.settings)
    else:
        from taskonomy.config import load_config
        s = energy_settings(load_config(a.config), t)
    from taskonomy import lineage
    from taskonomy.consistency.images import list_images
    models = [a.models / t / m / "model.pt" for m in MODES] + [
        a.models / "perceptual" / f"{y}__{z}" / "model.pt" for z in s["perceptual"] for y in (t, "rgb")]
    ood = list_images(a.ood_dir) if a.ood_dir else []
    outs = ["eval.json", "stats.json", "test.parquet", *(["ood.parquet"] if a.ood_dir else []), "energy.png"]
    with lineage.track([a.out / f for f in outs], models + ood, params=s, data=a.data):
        summary = evaluate(s, a.data, a.models, a.ood_dir, a.out)
    print(json.dumps({m: {k: v for k, v in r.items() if k in ("direct", "through_mean", "spearman_energy_error", "ood_energy")}
                      for m, r in summary["models"].items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
