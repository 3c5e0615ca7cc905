"""Significance of the taxonomy against random feasible policies (paper Sec. 4.1, Fig. 11).

The BIP's policy of a budget is compared with many random feasible policies of the same
budget and max order on mean Quality (win rate vs the fully supervised networks), mean Gain
(win rate vs scratch) and the BIP objective. The share of random policies that reach the
taxonomy's score is the empirical p-value of "the structure is no better than chance".
"""
from __future__ import annotations

from dataclasses import dataclass, asdict

import numpy as np
from tqdm import tqdm

from taskonomy.evaluation.gain_quality import gain_quality
from taskonomy.supervision import bip
from taskonomy.supervision.tables import TableSet


@dataclass
class SignificanceSettings:
    budget: int = 6
    max_order: int = 1
    n_random: int = 1000
    seed: int = 0
    metric: str = "sqrt_affinity"   # the BIP objective the taxonomy maximises


@dataclass
class SignificanceResult:
    settings: SignificanceSettings
    table: str
    targets: list[str]
    taxonomy: dict[str, float]           # score name -> taxonomy's value
    random: dict[str, np.ndarray]        # score name -> values of the random policies
    taxonomy_policy: bip.Policy

    def summary(self) -> dict:
        out = {"settings": asdict(self.settings), "table": self.table, "targets": self.targets,
               "taxonomy_supervised": sorted(self.taxonomy_policy.supervised),
               "taxonomy_transfers": {t: " ".join(s) for t, s in
                                      sorted(self.taxonomy_policy.choice.items())},
               "scores": {}}
        for k, v in self.random.items():
            tv = self.taxonomy[k]
            out["scores"][k] = {
                "taxonomy": tv, "random_mean": float(v.mean()), "random_std": float(v.std()),
                "random_max": float(v.max()), "random_min": float(v.min()),
                # share of random policies at least as good (with the +1 of an empirical test)
                "p_value": float((np.sum(v >= tv) + 1) / (len(v) + 1)),
                "share_beaten": float(np.mean(v < tv)),
                "z": float((tv - v.mean()) / v.std()) if v.std() > 0 else float("inf"),
            }
        return out


def scores(policy: bip.Policy, tables: TableSet) -> dict[str, float]:
    gq = gain_quality(policy, tables)
    # the objective at unit importance, summed in target-name order as this test always has
    # (Policy.objective sums in query order: the same value up to the last bit)
    out = {"objective": float(sum(c.value for _, c in sorted(policy.targets.items())))}
    for k in ("quality", "gain"):
        if gq[k]:
            out[k] = float(np.mean(list(gq[k].values())))
    return out


def run(tables: TableSet, settings: SignificanceSettings, targets: list[str] | None = None,
        source_only: list[str] | None = None, taxonomy: bip.Policy | None = None,
        progress: bool = True) -> SignificanceResult:
    source_only = list(source_only or ())
    targets = list(targets or bip.default_targets(tables.affinity, source_only))
    query = dict(targets=targets, budget=settings.budget, max_order=settings.max_order,
                 metric=settings.metric, source_only=source_only)
    if taxonomy is None:
        taxonomy = bip.solve(tables, **query)
    gen = bip.RandomPolicies(tables, **query)
    rng = np.random.default_rng(settings.seed)
    rand: dict[str, list[float]] = {}
    for _ in tqdm(range(settings.n_random), desc=f"random policies (budget {settings.budget})",
                  disable=not progress, mininterval=1.0):
        for k, v in scores(gen.draw(rng), tables).items():   # each draw passed bip.check_policy
            rand.setdefault(k, []).append(v)
    return SignificanceResult(settings, tables.name, targets, scores(taxonomy, tables),
                              {k: np.asarray(v) for k, v in rand.items()}, taxonomy)
