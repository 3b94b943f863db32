"""The unlearning study: the world's forget split and oracle corpus, the methods' losses against hand
computations, the verdict rule against an independent recomputation, bad input, and the smoke run
end to end with its summary recomputed from its item tables."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from scipy import stats

from conftest import assert_matches_schema, assert_one_line_error, run_cli, write_yaml

SMOKE_PATH = "configs/unlearning-smoke.yaml"


def smoke() -> dict:
    with open(SMOKE_PATH) as f:
        return yaml.safe_load(f)


# -- the world ----------------------------------------------------------------------------------
def test_oracle_corpus_states_no_forget_fact_and_keeps_every_other_row(tiny_world):
    from forgetscope.world import forget as W

    split = W.forget_split(tiny_world, 3, 2)
    oracle = [r["text"] for r in W.oracle_corpus(tiny_world, split.forget)]
    langs = [None, tiny_world.l2]
    for text in oracle:  # no forget person's name beside one of their values, in any language
        words = set(text.split())
        for p in split.forget:
            for lex in langs:
                name = p.name if lex is None else lex.get(p.name, p.name)
                vals = [v if lex is None else " ".join(lex.get(w, w) for w in v.split()) for v in p.attributes.values()]
                assert not (name in words and any(set(v.split()) <= words for v in vals)), text
    dropped = [t for t in (r["text"] for r in tiny_world.pretrain) if t not in set(oracle)]
    assert dropped and len(oracle) + len(dropped) == len(tiny_world.pretrain)
    kept = [r["text"] for r in tiny_world.pretrain if r["text"] in set(oracle)]
    assert kept == oracle  # the order of the rows it keeps is the base's
    assert {r["text"] for r in W.biographies(tiny_world, split.retain)} <= set(oracle)  # retain biographies all kept


def test_forget_split_and_folds_are_disjoint(tiny_world):
    from forgetscope.world import forget as W

    s = W.forget_split(tiny_world, 4, 2)
    ids = lambda ps: {p.id for p in ps}  # noqa: E731
    assert ids(s.forget).isdisjoint(ids(s.retain)) and ids(s.forget).isdisjoint(ids(s.general))
    assert set().union(*map(ids, s.folds)) == ids(s.forget) and ids(s.folds[0]).isdisjoint(ids(s.folds[1]))
    with pytest.raises(ValueError, match="fewer than"):
        W.forget_split(tiny_world, len(tiny_world.split("eval")), 2)


# -- the methods' losses against a hand computation ------------------------------------------
def _hand_logprob(model, ids: list[int], trained: list[bool]) -> float:
    """log p of the trained tokens of one sequence, token by token, with plain log-sum-exp."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].double()
    total = 0.0
    for t in range(1, len(ids)):
        if trained[t]:
            row = logits[t - 1]
            total += float(row[ids[t]] - torch.logsumexp(row, 0))
    return total


def _batch(tok, texts, prompts=None):
    from forgetscope.training.batches import SFTBatches

    ex = [[(t, True)] for t in texts] if prompts is None else list(zip(prompts, texts, strict=True))
    b = SFTBatches(ex, tok, 32, seed=0)
    return b, b.collate(list(range(len(b))))


def _seq(b, i):
    ids, labels = b.examples[i]
    return ids, [lab != -100 for lab in labels]


def test_ga_graddiff_and_idk_losses_match_a_hand_computation(tiny_lm):
    from forgetscope.studies.unlearning.methods import method_loss

    model, tok = tiny_lm
    fb, forget = _batch(tok, ["a b c", "what is the birthplace of x ?"])
    rb, retain = _batch(tok, ["task : repeat"])
    batch = {**forget, **{f"retain_{k}": v for k, v in retain.items()}}
    lp = [_hand_logprob(model, *_seq(fb, i)) for i in range(2)]
    n = sum(sum(_seq(fb, i)[1][1:]) for i in range(2))
    r_lp, r_n = _hand_logprob(model, *_seq(rb, 0)), sum(_seq(rb, 0)[1][1:])
    with torch.no_grad():
        ga, _ = method_loss("ga", retain_weight=0)(model, batch)
        gd, _ = method_loss("graddiff", retain_weight=0.5)(model, batch)
    assert float(ga) == pytest.approx(sum(lp) / n, rel=1e-5)  # −NLL = mean log-prob
    assert float(gd) == pytest.approx(sum(lp) / n + 0.5 * (-r_lp / r_n), rel=1e-5)
    ib, idk = _batch(tok, [" sorry ."], prompts=["x was born in"])
    ids, trained = _seq(ib, 0)
    assert trained.count(True) == 3 and not trained[0]  # " sorry ." and EOS: the completion only
    with torch.no_grad():
        loss, _ = method_loss("idk", retain_weight=0)(model, idk)
    assert float(loss) == pytest.approx(-_hand_logprob(model, ids, trained) / 3, rel=1e-5)


def test_npo_loss_matches_its_formula(tiny_lm):
    from forgetscope.studies.unlearning.methods import method_loss

    model, tok = tiny_lm
    ref = copy.deepcopy(model)
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
    fb, forget = _batch(tok, ["a b c", "what is the birthplace of x ?"])
    beta = 0.7
    terms = []
    for i in range(2):
        d = _hand_logprob(model, *_seq(fb, i)) - _hand_logprob(ref, *_seq(fb, i))
        terms.append(-(2 / beta) * math.log(1 / (1 + math.exp(beta * d))))  # −(2/β) log σ(−β d)
    with torch.no_grad():
        loss, _ = method_loss("npo", retain_weight=0, ref=ref, beta=beta)(model, forget)
    assert float(loss) == pytest.approx(sum(terms) / 2, rel=1e-5)
    with torch.no_grad():  # against itself as the reference: d = 0, the loss is (2/β) log 2
        same, _ = method_loss("npo", retain_weight=0, ref=model, beta=beta)(model, forget)
    assert float(same) == pytest.approx(2 / beta * math.log(2), rel=1e-6)


def test_an_unlearning_step_lowers_the_forget_likelihood(tiny_lm):
    from forgetscope.studies.unlearning.config import MethodConfig
    from forgetscope.studies.unlearning.methods import unlearn

    base, tok = tiny_lm
    texts = ["what is the birthplace of x ?", "task : repeat | input : a b"]
    fb, _ = _batch(tok, texts)
    before = sum(_hand_logprob(base, *_seq(fb, i)) for i in range(2))
    for name in ("ga", "npo"):
        model = copy.deepcopy(base)
        unlearn(model, tok, MethodConfig(name=name, train={"steps": 3, "batch_size": 2, "lr": 0.01}), texts, ["a b"],
                seed=0, device="cpu")
        assert sum(_hand_logprob(model, *_seq(fb, i)) for i in range(2)) < before - 0.1, name


# -- the verdict rule ---------------------------------------------------------------------------
@pytest.mark.parametrize("ci, label", [((0.06, 0.2), "hidden"), ((-0.1, 0.05), "removed"), ((-0.1, 0.0500000001), "removed"),
                                       ((0.0, 0.08), "uncertain"), ((None, None), "uncertain"), ((0.05, 0.3), "uncertain")])
def test_attack_label(ci, label):
    from forgetscope.studies.unlearning.verdict import attack_label

    assert attack_label(ci, 0.05) == label


def test_model_verdict():
    from forgetscope.studies.unlearning.verdict import model_verdict

    big = (0.4, 0.6)
    assert model_verdict((0.0, 0.04), ["hidden"], 0.05) == "not_unlearned"
    assert model_verdict(big, ["removed", "hidden", "uncertain"], 0.05) == "hidden"
    assert model_verdict(big, ["removed", "removed"], 0.05) == "removed"
    assert model_verdict(big, ["removed", "uncertain"], 0.05) == "uncertain"
    assert model_verdict((0.0, 0.3), ["removed"], 0.05) == "removed"  # forgetting straddles δ: still audited
    assert model_verdict(big, [], 0.05) == "uncertain"


def test_paired_interval_on_hand_made_tables():
    """Interval.of: the t-interval over seeds of per-seed mean differences, items paired by id."""
    from forgetscope.studies.unlearning.config import UnlearningConfig
    from forgetscope.studies.unlearning.s6_results_analyze import Interval

    rng = np.random.default_rng(3)
    seeds, items = [0, 1, 2, 3], [f"i{k}" for k in range(7)]
    a = pd.DataFrame([{"seed": s, "item_id": i, "score": float(rng.random() < 0.7)} for s in seeds for i in items])
    b = pd.DataFrame([{"seed": s, "item_id": i, "score": float(rng.random() < 0.3)} for s in seeds for i in reversed(items)])
    cfg = UnlearningConfig(seeds=seeds, analysis={"ci_level": 0.9})
    got = Interval(cfg).of(a, b)
    diffs = []
    for s in seeds:
        x = {r.item_id: r.score for r in a[a.seed == s].itertuples()}
        y = {r.item_id: r.score for r in b[b.seed == s].itertuples()}
        diffs.append(sum(x[i] - y[i] for i in items) / len(items))
    m, sd = sum(diffs) / 4, float(np.std(diffs, ddof=1))
    half = stats.t.ppf(0.95, 3) * sd / 2
    assert got.mean == pytest.approx(m, abs=1e-6)
    assert got.ci[0] == pytest.approx(m - half, abs=1e-6) and got.ci[1] == pytest.approx(m + half, abs=1e-6)


def test_seeds_that_agree_exactly_fall_back_to_the_item_bootstrap():
    """Models shared by every seed (no training since the base) give one value per seed: the interval
    is then over items, not a zero-width t-interval."""
    from forgetscope.studies.unlearning.verdict import difference_interval

    items = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0])
    m, lo, hi = difference_interval(np.full(5, items.mean()), items, 0.95, 2000)
    assert m == pytest.approx(items.mean()) and lo < m - 0.1 and hi > m + 0.1
    m, lo, hi = difference_interval(np.array([0.5, 0.6, 0.7]), items, 0.95, 2000)
    half = stats.t.ppf(0.975, 2) * 0.1 / np.sqrt(3)
    assert (lo, hi) == (pytest.approx(0.6 - half), pytest.approx(0.6 + half))


def test_recovered_share():
    from forgetscope.studies.unlearning.verdict import recovered_share

    assert recovered_share(0.6, 0.2, 1.0) == pytest.approx(0.5)
    assert recovered_share(0.6, 0.9, 0.9) is None


# -- bad input: one line, exit 2, before compute ------------------------------------------------
def test_no_forget_probes(tmp_path):
    proc = run_cli("run", SMOKE_PATH, "--set", "forget.people=0", "--out", tmp_path / "run")
    assert_one_line_error(proc, "forget.people", "no forget probes")
    assert not (tmp_path / "run" / "1_world").exists()


def test_relearning_text_overlapping_the_forget_set(tmp_path):
    from forgetscope.world.build import build_world
    from forgetscope.world.config import WorldConfig
    from forgetscope.world.forget import biographies, forget_split

    cfg = smoke()
    world = build_world(WorldConfig.model_validate(cfg["world"]), cfg["base_seed"])
    bio = biographies(world, forget_split(world, cfg["forget"]["people"], 2).forget[-1:])[0]
    data = tmp_path / "relearn.jsonl"
    data.write_text(json.dumps({"text": "a b c ."}) + "\n" + json.dumps(bio) + "\n")
    proc = run_cli("validate", SMOKE_PATH, "--set", f"relearn.data={data}")
    assert_one_line_error(proc, "relearn.data", "row 2", "overlap")
    data.write_text(json.dumps({"text": "a b c ."}) + "\n")  # disjoint: no error from this check
    assert run_cli("validate", SMOKE_PATH, "--set", f"relearn.data={data}").returncode == 0


def test_oracle_with_another_tokenizer(tmp_path):
    from forgetscope.world.build import build_world
    from forgetscope.world.config import WorldConfig

    cfg = smoke()
    other = build_world(WorldConfig.model_validate(cfg["world"]), cfg["base_seed"] + 7)  # other names, other vocabulary
    other.tokenizer().save_pretrained(tmp_path / "oracle")
    proc = run_cli("run", SMOKE_PATH, "--set", f"oracle.path={tmp_path / 'oracle'}", "--out", tmp_path / "run")
    assert_one_line_error(proc, "oracle.path", "tokenizer")
    assert not (tmp_path / "run" / "1_world").exists()


# -- the smoke run, end to end, and its summary recomputed from its item tables ----------------
def test_smoke_run_end_to_end(tmp_path):
    cfg = smoke()
    cfg["base"]["train"]["steps"] = 40  # seconds, not a minute: the numbers are recomputed, not judged
    cfg["world"]["pretrain"] = {"bios_per_person": 2, "icl_episodes": 30}
    cfg["relearn"]["curve"] = []  # the full budget only: half the probing
    cfg["relearn"]["train"]["steps"] = 4  # the routes, not the values, are under test here
    # graddiff's loss is ga's plus the retain term npo also adds (both checked by hand above): three methods
    # take every route of the stages (ga: no reference model; npo: the base as reference; idk: its own data)
    cfg["methods"] = [m for m in cfg["methods"] if m["name"] != "graddiff"]
    path = write_yaml(tmp_path / "smoke.yaml", cfg)
    out = tmp_path / "run"
    proc = run_cli("run", path, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert_matches_schema(out / "summary.json", "unlearning")
    assert "removed or hidden" in (out / "report.html").read_text().lower()
    s = json.loads((out / "summary.json").read_text())
    items = pd.read_parquet(out / "results" / "items.parquet")
    relearn = pd.read_parquet(out / "results" / "relearn.parquet")
    seeds, delta, full = cfg["seeds"], cfg.get("analysis", {}).get("delta", 0.05), cfg["relearn"]["train"]["steps"]
    assert sorted(relearn.step.unique()) == sorted({max(1, round(f * full)) for f in cfg["relearn"]["curve"]} | {full})

    def seed_means(t):
        return np.array([t[t.seed == s].score.mean() for s in seeds])

    def t_ci(v):
        if np.ptp(v) == 0:  # every seed the same: an item interval (checked in the unit test), contains the mean
            return None
        half = stats.t.ppf(0.975, len(v) - 1) * np.std(v, ddof=1) / np.sqrt(len(v))
        return v.mean() - half, v.mean() + half

    names = [m["name"] for m in s["models"]]
    assert names == ["oracle"] + [m["name"] for m in cfg["methods"]]
    base_f = items[(items.model == "base") & (items.probe == "forget")]
    for m in s["models"]:
        mine_f = items[(items.model == m["name"]) & (items.probe == "forget")]
        assert m["scores"]["forget"]["mean"] == pytest.approx(mine_f.score.mean(), abs=1e-6)
        forgetting = seed_means(base_f) - seed_means(mine_f)
        labels = []
        for a in m["attacks"]:
            if a["attack"] == "conjugate_l2":
                mine = items[(items.model == m["name"]) & (items.probe == "forget_l2")]
                ctrl = items[(items.model == "oracle-control") & (items.probe == "forget_l2")]
            else:
                sel = (relearn.attack == a["attack"]) & (relearn.step == full) & (relearn.probe == "forget")
                mine, ctrl = relearn[sel & (relearn.model == m["name"])], relearn[sel & (relearn.model == "oracle-control")]
                assert sorted(mine.item_id) == sorted(base_f[base_f.seed == seeds[0]].item_id.tolist() * len(seeds))
            excess = seed_means(mine) - seed_means(ctrl)
            assert a["excess"] == pytest.approx(excess.mean(), abs=1e-6)
            ci = t_ci(excess)
            if ci is None:
                assert a["ci"][0] <= excess.mean() <= a["ci"][1]
                lo, hi = a["ci"]
            else:
                lo, hi = ci
                assert a["ci"][0] == pytest.approx(lo, abs=1e-6) and a["ci"][1] == pytest.approx(hi, abs=1e-6)
            want = "hidden" if lo > delta + 1e-9 else "removed" if hi <= delta + 1e-9 else "uncertain"
            assert a["label"] == want
            lost = base_f.score.mean() - mine_f.score.mean()
            share = (mine.score.mean() - mine_f.score.mean()) / lost if lost > 0 else None
            assert a["recovered_share"] == (None if share is None else pytest.approx(share, abs=1e-6))
            labels.append(want)
        f_hi = m["forgetting"]["ci"][1] if t_ci(forgetting) is None else t_ci(forgetting)[1]
        want = ("not_unlearned" if f_hi <= delta + 1e-9 else "hidden" if "hidden" in labels
                else "removed" if all(x == "removed" for x in labels) else "uncertain")
        assert m["verdict"] == want
    # the findings read the verdicts: the oracle's holds exactly when it is removed
    oracle = next(f for f in s["findings"] if f["id"] == "oracle_removed")
    assert (oracle["verdict"] == "holds") == (s["models"][0]["verdict"] == "removed")
