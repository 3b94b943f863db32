"""Invariants of the measurement code that hold whatever the numbers (issue 25): each is a relation
between two computations that must agree, so it catches a wrong number in the code that routes one
(the restoration of the control against the checkpoints, the undoing of a conjugate prompt's scale,
the orientation of closeness bins, byte counts, ties and multi-token choices, the transition rule)."""

from __future__ import annotations

import itertools
import json
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import SMOKE, run_cli, write_yaml

# -- a checkpoint identical to the base ------------------------------------------------------------


def test_a_checkpoint_identical_to_the_base_has_no_forgetting_and_no_gap(tmp_path):
    """Fine-tuning at a learning rate of 1e-30 leaves every weight as it was (each update is below a
    float32 step), so each checkpoint is the base: it scores as the base on every item, and every
    restorer, applied to it and to the base (the control) alike, gives the same scores, so the
    forgetting and the gap are exactly 0 for every probe, restorer and checkpoint."""
    restore = {k: v for k, v in SMOKE["restore"].items() if k != "restorers"}  # the default restorers, x2 included
    cfg = {**SMOKE, "restore": restore, "runtime": {**SMOKE["runtime"], "cache_dir": str(tmp_path / "cache")},
           "finetune": {"train": {**SMOKE["finetune"]["train"], "steps": 4, "lr": 1e-30}, "checkpoints": {"steps": [2, 4]}}}
    proc = run_cli("run", write_yaml(tmp_path / "c.yaml", cfg), "--out", str(tmp_path / "run"), "-q")
    assert proc.returncode == 0, proc.stderr
    items = pd.read_parquet(tmp_path / "run/results/items.parquet")
    conditions = set(items["condition"])
    assert conditions >= {"checkpoint", "restored", "restored-x2", "interp-0.50"}
    wide = items.pivot_table(index=["probe", "item_id"], columns=["condition", "step"], values="score")
    for cond in conditions:
        zero = wide[("checkpoint", 0)] if (cond, 0) not in wide.columns else wide[(cond, 0)]  # interpolation leaves the base as is
        for step in (2, 4):
            pd.testing.assert_series_equal(wide[(cond, step)], zero, check_names=False, obj=f"{cond} at step {step}")
    dec = pd.read_parquet(tmp_path / "run/results/decomposition.parquet")
    assert set(dec["restorer"]) == conditions - {"checkpoint"}
    assert (dec["forgetting"] == 0).all() and (dec["gap"] == 0).all()
    s = json.loads((tmp_path / "run/summary.json").read_text())
    assert all(c["forgetting"] == 0 and c["gap_to_restored_base"] == 0 and c["label"] == "none"
               for p in s["probes"].values() for c in p["checkpoints"])


# -- the regression study: a conjugate prompt's scale is undone -------------------------------------


class _LinearInY(torch.nn.Module):
    """A model whose prediction at x_i is sum_{j<i} y_j (x_i . x_j): linear in the y tokens, so the
    prediction on (X, gamma y) is gamma times the one on (X, y)."""

    def forward(self, inputs):
        if inputs.shape[1] % 2 == 0:
            inputs = inputs[:, :-1]
        xs, ys = inputs[:, 0::2], inputs[:, 1::2, 0]
        n = xs.shape[1]
        sim = xs @ xs.transpose(1, 2)  # [b, n, n]
        mask = torch.tril(torch.ones(n, n), diagonal=-1)
        return (sim * mask * torch.nn.functional.pad(ys, (0, n - ys.shape[1]))[:, None, :]).sum(-1)


@pytest.mark.parametrize("gamma", [2.0, 0.5, 3.0])
def test_gamma_one_and_gamma_agree_on_a_model_linear_in_y(gamma):
    from forgetscope.studies.regression.s3_checkpoints_evaluate import predict

    g = torch.Generator().manual_seed(0)
    xs, ys = torch.randn(5, 6, 3, generator=g), torch.randn(5, 6, generator=g)
    one = predict(_LinearInY(), xs, ys, 1.0, batch_size=2, device="cpu")
    scaled = predict(_LinearInY(), xs, ys, gamma, batch_size=2, device="cpu")
    assert one.abs().max() > 0.1  # the model does depend on y
    torch.testing.assert_close(scaled, one, rtol=1e-5, atol=1e-6)


# -- closeness bins: oriented, and mirrored by a relabelled copy -------------------------------------


def _closeness(posterior, distance, damage) -> pd.DataFrame:
    """seed_tables' closeness table for continuous prompts (k = 0..3) with the given per-prompt
    closeness measures and fine-tuning damage (the base's squared error is 1 everywhere)."""
    from forgetscope.analysis.regression import seed_tables

    n, ks = len(posterior), range(4)
    keys = pd.DataFrame([(p, k) for p in range(n) for k in ks], columns=["prompt", "k"])
    base = keys.assign(seed=0, family="continuous", y=0.0, ridge=0.0, discrete_bayes=0.0,
                       posterior_discrete=np.repeat(posterior, 4), w_distance=np.repeat(distance, 4))
    pred = lambda step, gamma, err: keys.assign(seed=0, family="continuous", step=step, gamma=gamma, pred=err)  # noqa: E731
    preds = pd.concat([pred(s, g, np.ones(len(keys)) if s == 0 else np.sqrt(1 + np.repeat(damage, 4)))
                       for s in (0, 5) for g in (1.0, 2.0)], ignore_index=True)
    t = seed_tables(base, preds, baselines=["ridge"], final_step=5, gammas=[2.0], closeness_bins=4)
    return t["closeness"].set_index(["measure", "bin"])


def test_closeness_bins_run_from_farthest_to_closest_and_a_relabelled_copy_mirrors_them():
    """Bin 0 is the farthest from the discrete set (lowest posterior, largest distance), the last bin
    the closest; swapping which prompts are close (posterior p -> 1 - p, distance d -> 1 - d) turns the
    bins' damage around."""
    rng = np.random.default_rng(0)
    p = rng.permutation(np.linspace(0.05, 0.95, 16))
    damage = 2 * p  # the closer, the more damage
    got = _closeness(p, 1 - p, damage)
    for measure in ("posterior_discrete", "w_distance"):
        d = got.loc[measure, "damage"].to_numpy()
        assert (np.diff(d) > 0).all(), (measure, d)  # farthest (bin 0) to closest
        mirrored = _closeness(1 - p, p, damage).loc[measure, "damage"].to_numpy()
        np.testing.assert_allclose(mirrored, d[::-1], rtol=1e-12)


# -- bytes of held-out text -------------------------------------------------------------------------

UNICODE = ["née à zürich , ça va ?", "日本語 の テキスト 。", "emoji 🙂 and ﬁ ligature", "plain ascii text .", "ελληνικά λέξεις"]


def test_byte_counts_are_the_utf8_bytes_of_l2_and_any_unicode_text(tiny_lm, tiny_world):
    from forgetscope.evaluation.scorer import NativeScorer
    from forgetscope.evaluation.probes_and_bpb import heldout_bits

    model, tok = tiny_lm
    scorer = NativeScorer(model, tok, batch_size=4)
    l2 = [r["text"] for r in tiny_world.heldout if r.get("language") == "l2"]
    assert l2 and any(len(t.encode()) > len(t) for t in l2)  # the L2 has characters of more than one byte
    for texts in (l2, UNICODE):
        bits, n_bytes = scorer.bits_and_bytes(texts)
        assert n_bytes == sum(len(t.encode("utf-8")) for t in texts)
        b2, n2, skipped = heldout_bits(scorer, texts, [[] for _ in texts])
        assert (n2, skipped) == (n_bytes, 0) and b2 == pytest.approx(bits, rel=1e-6)
    # a skipped word takes its own bytes and the space before it out of the total, as UTF-8 bytes
    untrained = [["zürich"], ["テキスト"], ["🙂"], [], ["λέξεις"]]
    _, n3, skipped = heldout_bits(scorer, UNICODE, untrained)
    gone = sum(len(m.group().encode()) for t, u in zip(UNICODE, untrained, strict=True)
               for m in re.finditer(r"\s*(\S+)", t) if m.group(1) in u)
    assert skipped > 0 and n3 == sum(len(t.encode()) for t in UNICODE) - gone


# -- choices: ties and multi-token choices as lm-eval scores them ------------------------------------


class _FixedScorer:
    """A scorer whose log-likelihoods are given per (prompt, continuation)."""

    tok = None

    def __init__(self, logprobs):
        self.logprobs = logprobs

    def loglikelihood(self, requests):
        return [SimpleNamespace(logprob=self.logprobs[r], is_greedy=False) for r in requests]

    def generate(self, prompts, *, max_new_tokens, stop):
        assert not prompts
        return []


def _lm_eval_multiple_choice(choices, gold, lls) -> dict:
    """lm-eval's own scoring of one multiple-choice document (ConfigurableTask.process_results)."""
    from lm_eval.api.task import ConfigurableTask

    task = SimpleNamespace(OUTPUT_TYPE="multiple_choice", multiple_input=False, multiple_target=False,
                           config=SimpleNamespace(process_results=None), _metric_fn_list={"acc": None, "acc_norm": None},
                           doc_to_choice=lambda doc: choices, doc_to_target=lambda doc: gold)
    return ConfigurableTask.process_results(task, {}, [(lp, False) for lp in lls])


CASES = [  # choices, log-likelihoods, gold: ties among the best, and multi-token choices of unequal length
    ([" paris", " lyon", " paris"], [-1.0, -2.0, -1.0], 2),
    ([" a", " b", " c", " d"], [-0.5, -0.5, -0.5, -0.5], 0),
    ([" a", " b", " c", " d"], [-0.5, -0.5, -0.5, -0.5], 3),
    ([" new york city", " rome"], [-3.0, -2.5], 0),  # per character the long one is better: acc and acc_norm disagree
    ([" new york city", " rome"], [-2.0, -2.5], 0),
    ([" san francisco", " los angeles", " nice"], [-4.0, -4.0, -6.0], 1),
]


@pytest.mark.parametrize(("choices", "lls", "gold"), CASES)
def test_choices_score_as_lm_evals_acc(choices, lls, gold):
    """The probe runner's choice score is lm-eval's `acc` on the same log-likelihoods: the summed
    log-likelihood of each (multi-token) choice, unnormalised, a tie won by the first choice."""
    from forgetscope.evaluation.items import ProbeItem
    from forgetscope.evaluation.probe_runner import ProbeSettings, run_probes

    item = ProbeItem(id="x", probe="p", kind="choice", prompt="q", choices=choices, answer=gold)
    row = run_probes(_FixedScorer({("q", c): lp for c, lp in zip(choices, lls, strict=True)}), [item], ProbeSettings())[0]
    theirs = _lm_eval_multiple_choice(choices, gold, lls)
    assert row["score"] == theirs["acc"]
    assert row["output"] == choices[int(np.argmax(lls))]
    assert row["answer_rank"] == 1 + sum(lp > lls[gold] for lp in lls)


# -- the stage transition over label sequences -------------------------------------------------------

LABELS = ("none", "pseudo", "actual", "uncertain")


def _checkpoint(step: int, lab: str) -> dict:
    gap = {"none": 0.0, "pseudo": 0.0, "actual": 0.3, "uncertain": 0.05}[lab]
    return {"step": step, "label_ci": lab, "forgetting": 0.0 if lab == "none" else 0.4, "gap_to_restored_base": gap,
            "ci": {"forgetting": [0.3, 0.5], "gap": [gap - 0.05, gap + 0.05]}}


@pytest.mark.parametrize("labels", list(itertools.product(LABELS, repeat=3)), ids="-".join)
def test_findings_over_every_label_sequence_agree_with_the_oracle(labels):
    """Every sequence of three label_ci: the findings' verdicts are the oracle's (tests/oracle/
    trajectory.py), so pseudo -> actual -> pseudo is never a clean transition."""
    from oracle.trajectory import _check_findings

    from forgetscope.analysis.findings import trajectory_findings

    cks = [_checkpoint(10 * (i + 1), lab) for i, lab in enumerate(labels)]
    found = trajectory_findings(cks, 0.05)
    _check_findings(found, cks, 0.05)
    if labels == ("pseudo", "actual", "pseudo"):
        assert {f["id"]: f["verdict"] for f in found}["stage_transition"] == "fails"
