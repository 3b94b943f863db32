"""The unlearning verdict, in one place (docs/unlearning.md states it for readers).

Per attack, with the forget score relearned (or attacked) R and the oracle's under the same attack
R_O (the control, which never learned the forget set): excess = R − R_O, its interval over seeds (or
over items with one seed).
    excess interval above δ          → hidden     relearning brings back more than it teaches from scratch
    excess interval at or below δ    → removed    no more than the oracle (within δ)
    otherwise                        → uncertain
Per model: not_unlearned when the forgetting (base − unlearned, on the forget probe) lies at or below
δ by its interval (there is nothing to call removed or hidden); else hidden when any attack says
hidden, removed when every attack says removed, uncertain otherwise. Without an oracle (a pretrained
base without oracle.path) every attack is no_control and so is the model: nothing tells what an
attack brings back from what it teaches from scratch, so neither removed nor hidden is ever said. Intervals decide through
forgetscope.analysis.findings.interval_verdict, with the stage rule's tolerance.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from forgetscope.analysis.findings import interval_verdict
from forgetscope.analysis.stats import bootstrap_distribution, seed_interval

VERDICTS = ("removed", "hidden", "uncertain", "not_unlearned", "no_control")
NO_CONTROL = "no_control"


def attack_label(excess_ci: Sequence[float | None], delta: float) -> str:
    v = interval_verdict(excess_ci[0], excess_ci[1], delta, "above")
    return {"holds": "hidden", "fails": "removed", "uncertain": "uncertain"}[v]


def model_verdict(forgetting_ci: Sequence[float | None], attack_labels: Sequence[str], delta: float) -> str:
    if interval_verdict(forgetting_ci[0], forgetting_ci[1], delta, "above") == "fails":
        return "not_unlearned"
    if any(lab == NO_CONTROL for lab in attack_labels):
        return NO_CONTROL
    if any(lab == "hidden" for lab in attack_labels):
        return "hidden"
    if attack_labels and all(lab == "removed" for lab in attack_labels):
        return "removed"
    return "uncertain"


def recovered_share(attacked: float, unlearned: float, base: float) -> float | None:
    """(attacked − unlearned) / (base − unlearned): the share of what unlearning took that the attack
    brings back; None when unlearning took nothing."""
    lost = base - unlearned
    return None if not lost > 0 else (attacked - unlearned) / lost


def difference_interval(per_seed: np.ndarray, per_item: np.ndarray, level: float, n_boot: int, seed: int = 0) -> tuple[float, float, float]:
    """Mean and interval of a paired difference: a t-interval over seeds (per_seed: one mean difference
    per seed), or a bootstrap over items (per_item: one difference per item, of the first seed) with one
    seed, or when every seed gives the same value (the models compared do not vary with the seed, as the
    shared base and oracles under `base_seed` before any training: a t-interval would have no width)."""
    per_seed = np.asarray(per_seed, dtype=float)
    if len(per_seed) >= 2 and np.ptp(per_seed) > 0:
        return seed_interval(per_seed, level)
    reps = bootstrap_distribution(np.asarray(per_item, dtype=float).reshape(-1, 1), n_boot=n_boot, seed=seed)[:, 0]
    tail = 100 * (1 - level) / 2
    return float(np.mean(per_item)), float(np.percentile(reps, tail)), float(np.percentile(reps, 100 - tail))
