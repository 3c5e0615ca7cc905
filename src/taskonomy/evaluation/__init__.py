"""The paper's evaluations on top of Stage III/IV (``taskonomy evaluate``, see ``cli``).

- ``gain_quality``: Gain/Quality of the taxonomy's policies per budget and order (Fig. 9)
- ``significance``: the taxonomy vs random feasible policies of the same budget (Fig. 11)
- ``novel``: the all-for-one novel-task scenario (Sec. 4.2, Fig. 10 left)
- ``losses``: Table 1 and the transitive-transfer check, from per-image losses
- ``bootstrap``: the test images resampled: affinity intervals, how often the taxonomy's
  choices survive (issue 12)
- ``figures``: the PNGs

Policies, their feasibility check and the random feasible policies are
``taskonomy.supervision.bip``'s (``Policy``, ``check_policy``, ``RandomPolicies``).

The task similarity tree (Fig. 13) is ``taskonomy tree`` (Stage IV).
"""
