"""Resolved settings of each consistency artifact, from the ``consistency:`` config section.

Rules put exactly what these functions return into their ``params`` (as in
``taskonomy.settings``), so editing ``k`` reruns the consistency networks but not the
baselines or the perceptual networks. The defaults are the schema's ``consistency`` section
(``taskonomy.config.schema_defaults``). Imports no torch: the Snakefile calls it.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

from taskonomy.config import schema_defaults
from taskonomy.settings import DEVICE_DEFAULT, SEED_DEFAULT, derive_seed

# The paper's perceptual domains: a target that ``consistency.domains`` does not list is
# constrained by the other seven.
PERCEPTUAL_DOMAINS = ("principal_curvature", "edge_texture", "edge_occlusion", "keypoints2d",
                      "keypoints3d", "reshading", "depth_zbuffer", "normal")
# The schema's defaults: the paper's three targets, each with the other seven domains.
DEFAULTS = schema_defaults()["consistency"]


@dataclass
class UNetSettings:
    """``consistency.unet``: channels of the first level (doubling per level, capped at 8x)
    and the number of x2 downsampling blocks."""
    width: int = DEFAULTS["unet"]["width"]
    downsample: int = DEFAULTS["unet"]["downsample"]

    @classmethod
    def from_dict(cls, d: dict | None) -> "UNetSettings":
        d = dict(d or {})
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"config key 'consistency.unet': unknown setting(s) {sorted(unknown)}")
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)


def section(cfg: dict) -> dict:
    """The ``consistency`` section with every default filled in (nested dicts merged), and
    ``targets`` turned into {target: [perceptual domains]} (from ``domains``; a target that
    ``domains`` does not list gets every other domain of PERCEPTUAL_DOMAINS)."""
    c = copy.deepcopy(DEFAULTS)
    for k, v in (cfg.get("consistency") or {}).items():
        if isinstance(v, dict) and isinstance(c.get(k), dict):
            c[k] = {**c[k], **v}
        else:
            c[k] = copy.deepcopy(v)
    unknown = set(c) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"config key 'consistency': unknown setting(s) {sorted(unknown)}")
    c["targets"] = {t: list(c["domains"].get(t) or [d for d in PERCEPTUAL_DOMAINS if d != t])
                    for t in c["targets"]}
    if c["random_select"] and c["winrate"]:
        raise ValueError("config keys 'consistency.random_select' and 'consistency.winrate' "
                         "are exclusive: choose one way to pick the k perceptual losses")
    for t, zs in c["targets"].items():
        if t in zs:
            raise ValueError(f"config key 'consistency.domains.{t}': a target cannot constrain itself")
    return c


def perceptual_pairs(cfg: dict) -> list[tuple[str, str]]:
    """Every (Y, Z) network the section needs: target -> Z (perceptual) and rgb -> Z (direct)."""
    c = section(cfg)
    pairs = []
    for t, zs in c["targets"].items():
        pairs += [(t, z) for z in zs] + [("rgb", z) for z in zs]
    return sorted(set(pairs))


def perceptual_settings(cfg: dict, y: str, z: str) -> dict:
    """Everything that determines consistency/perceptual/<y>__<z>/model.pt."""
    c = section(cfg)
    return {"y": y, "z": z, "unet": UNetSettings.from_dict(c["unet"]).to_dict(),
            "train": dict(c["perceptual"]), "size": c["size"],
            "seed": derive_seed(cfg.get("seed", SEED_DEFAULT), f"consistency/perceptual/{y}__{z}"),
            "device": cfg.get("device", DEVICE_DEFAULT)}


def target_settings(cfg: dict, target: str, mode: str) -> dict:
    """Everything that determines consistency/<target>/<mode>/model.pt. Baseline and
    consistency share seed, data and schedule; only the consistency run carries the
    perceptual keys, so changing k never retrains the baseline."""
    if mode not in ("baseline", "consistency"):
        raise ValueError(f"mode must be baseline or consistency, not {mode!r}")
    c = section(cfg)
    if target not in c["targets"]:
        raise ValueError(f"{target!r} is not in config key 'consistency.targets' ({sorted(c['targets'])})")
    s = {"target": target, "mode": mode, "unet": UNetSettings.from_dict(c["unet"]).to_dict(),
         "train": dict(c["train"]), "size": c["size"],
         "seed": derive_seed(cfg.get("seed", SEED_DEFAULT), f"consistency/{target}"),
         "device": cfg.get("device", DEVICE_DEFAULT)}
    if mode == "consistency":
        s.update({"perceptual": list(c["targets"][target]), "k": c["k"],
                  "random_select": bool(c["random_select"]), "winrate": bool(c["winrate"]),
                  "perceptual_weight": float(c["perceptual_weight"]),
                  "winrate_images": int(c["winrate_images"])})
    return s


def energy_settings(cfg: dict, target: str) -> dict:
    c = section(cfg)
    return {"target": target, "perceptual": list(c["targets"][target]), "size": c["size"],
            "device": cfg.get("device", DEVICE_DEFAULT)}
