"""The recipes study end to end through the CLI on the tiny world (two seeds, three recipes), against an
oracle that recomputes its summary from each recipe's item table (plain means over items, then seeds)
and the forward KL from the models themselves."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import assert_matches_schema, assert_one_line_error, run_cli, write_yaml
from scipy import stats

# Three recipes keep the test short: the third trains through the recipes' own stage with all three of its options.
STEPS = [5, 9]
RECIPES = [{"name": "full"}, {"name": "lora-r2", "lora": {"r": 2, "alpha": 4}, "lr": 0.01},
           {"name": "replay-50", "replay": 0.5, "freeze_layers": 1, "kl_penalty": 0.5}]


def _config(d) -> dict:
    from conftest import SMOKE

    cfg = json.loads(json.dumps(SMOKE))
    cfg.update(study="recipes", name="recipes-test", seeds=[0, 1], base_seed=0, recipes=RECIPES)
    cfg["finetune"]["train"]["lr"] = 0.01
    cfg["finetune"]["checkpoints"] = {"steps": STEPS}  # two a recipe: a curve, at two thirds of three's cost
    cfg["analysis"] = {"n_bootstrap": 200, "kl_examples": 100000}  # every fine-tuning example: the oracle needs no draw
    cfg["runtime"] = {"workers": 1, "cache_dir": str(d / "cache")}
    return cfg


@pytest.fixture(scope="module")
def recipes_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("recipes")
    proc = run_cli("run", write_yaml(d / "recipes.yaml", _config(d)), "--out", str(d / "run"), "-q")
    assert proc.returncode == 0, proc.stderr
    return d / "run"


def _per_seed(run, recipe: str) -> pd.DataFrame:
    """seed x probe x step: B, F_t and R_t as plain means of the item scores."""
    items = pd.read_parquet(run / "recipes" / recipe / "results" / "items.parquet")
    means = items[items["condition"].isin(["checkpoint", "restored"])].groupby(["seed", "probe", "condition", "step"])["score"].mean()
    rows = []
    for (seed, probe), g in means.groupby(level=["seed", "probe"]):
        ck, rs = g.xs("checkpoint", level="condition").droplevel([0, 1]), g.xs("restored", level="condition").droplevel([0, 1])
        for step in ck.index[ck.index > 0]:
            rows.append({"seed": seed, "probe": probe, "step": step, "B": ck[0], "F": ck[step], "R": rs[step]})
    return pd.DataFrame(rows)


def _t_interval(values) -> tuple[float, float]:
    values = np.asarray(values, dtype=float)
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return values.mean() - half, values.mean() + half


def test_points_equal_the_oracle_from_the_item_tables(recipes_run):
    s = json.loads((recipes_run / "summary.json").read_text())
    assert_matches_schema(recipes_run / "summary.json", "recipes")
    assert [r["name"] for r in s["recipes"]] == [r["name"] for r in RECIPES]
    assert len(s["points"]) == len(RECIPES) * len(STEPS)
    for p in s["points"]:
        o = _per_seed(recipes_run, p["recipe"])
        main = o[(o["probe"] == s["probe"]) & (o["step"] == p["step"])]
        target = o[(o["probe"] == "qa_l1") & (o["step"] == p["step"])]
        assert len(main) == 2 and len(target) == 2
        for key, values in (("forgetting", main["B"] - main["F"]), ("pseudo", main["R"] - main["F"]), ("actual", main["B"] - main["R"]),
                            ("target_gain", target["F"].to_numpy() - target["B"].to_numpy())):
            assert p[key] == pytest.approx(float(np.mean(values)), abs=2e-6), (p["recipe"], p["step"], key)
            assert p[f"{key}_ci"] == pytest.approx(list(_t_interval(values)), abs=2e-6), (p["recipe"], p["step"], key)


def test_findings_recomputed_from_the_oracle(recipes_run):
    s = json.loads((recipes_run / "summary.json").read_text())
    found = {f["id"]: f for f in s["findings"]}
    assert set(found) == {"kl_predicts_forgetting", "lora_forgets_less:lora-r2", "replay_reduces_actual:replay-50"}
    rho = stats.spearmanr([p["forward_kl"] for p in s["points"]], [p["forgetting"] for p in s["points"]]).statistic
    assert found["kl_predicts_forgetting"]["value"] == pytest.approx(rho, abs=1e-9)
    full, replay = _per_seed(recipes_run, "full"), _per_seed(recipes_run, "replay-50")
    last = lambda o: o[(o["probe"] == s["probe"]) & (o["step"] == 9)].set_index("seed")  # noqa: E731
    diffs = (last(full)["B"] - last(full)["R"]) - (last(replay)["B"] - last(replay)["R"])
    assert found["replay_reduces_actual:replay-50"]["value"] == pytest.approx(diffs.mean(), abs=2e-6)
    # LoRA: full fine-tuning's forgetting interpolated at LoRA's final target gain, per seed
    lora = _per_seed(recipes_run, "lora-r2")
    expected = []
    for seed in (0, 1):
        def curve(o, probe, seed=seed):
            return o[(o["seed"] == seed) & (o["probe"] == probe)].sort_values("step")

        t_full, m_full = curve(full, "qa_l1"), curve(full, s["probe"])
        gains = np.r_[0.0, (t_full["F"] - t_full["B"]).to_numpy()]
        forgets = np.r_[0.0, (m_full["B"] - m_full["F"]).to_numpy()]
        t_l, m_l = curve(lora, "qa_l1").iloc[-1], curve(lora, s["probe"]).iloc[-1]
        g = t_l["F"] - t_l["B"]
        if gains.min() <= g <= gains.max():
            ug = np.unique(gains)
            uv = [forgets[gains == x].mean() for x in ug]
            expected.append(np.interp(g, ug, uv) - (m_l["B"] - m_l["F"]))
    f = found["lora_forgets_less:lora-r2"]
    assert f["value"] == (pytest.approx(float(np.mean(expected)), abs=2e-6) if expected else None)
    for f in s["findings"]:
        lo, hi = f["ci"]
        assert f["verdict"] == ("holds" if lo is not None and lo > 0 else "fails" if hi is not None and hi <= 0 else "uncertain")


def test_forward_kl_equals_a_direct_computation(recipes_run):
    """KL(base || checkpoint) per trained token over every fine-tuning example, each scored alone
    (no padding) with torch.distributions, for the full recipe's last checkpoint on both seeds."""
    import torch
    from torch.distributions import Categorical, kl_divergence

    from forgetscope.data import sft_segments
    from forgetscope.models import load_model, load_tokenizer
    from forgetscope.training import SFTBatches
    from forgetscope.training.batches import IGNORE

    s = json.loads((recipes_run / "summary.json").read_text())
    run = recipes_run / "recipes" / "full"
    per_seed = []
    for seed in (0, 1):
        world = run / f"seed-{seed}" / "1_world"
        tok = load_tokenizer(world / "tokenizer")
        rows = [json.loads(line) for line in (world / "ift.jsonl").read_text().splitlines()]
        examples = SFTBatches(sft_segments(rows, tok, "ift", "completion"), tok, 96, seed=seed).examples
        base = load_model(run / f"seed-{seed}" / "2_base" / "model").eval()
        tuned = load_model(run / f"seed-{seed}" / "3_finetune" / "checkpoints" / "step-000009").eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for ids, labels in examples:
                x = torch.tensor([ids])
                keep = torch.tensor(labels[1:]) != IGNORE
                p, q = base(input_ids=x).logits[0, :-1][keep], tuned(input_ids=x).logits[0, :-1][keep]
                total += float(kl_divergence(Categorical(logits=p), Categorical(logits=q)).sum())
                count += int(keep.sum())
        per_seed.append(total / count)
    point = next(p for p in s["points"] if p["recipe"] == "full" and p["step"] == 9)
    assert point["forward_kl"] == pytest.approx(np.mean(per_seed), rel=1e-4)
    assert point["forward_kl"] > 0


def test_frozen_blocks_of_the_freeze_recipe_are_the_bases(recipes_run):
    from safetensors.torch import load_file

    run = recipes_run / "recipes" / "replay-50" / "seed-0"
    base = load_file(str(run / "2_base" / "model" / "model.safetensors"))
    tuned = load_file(str(run / "3_finetune" / "checkpoints" / "step-000009" / "model.safetensors"))
    bottom = [k for k in base if ".layers.0." in k]
    assert bottom and all(base[k].equal(tuned[k]) for k in bottom)
    assert any(not base[k].equal(tuned[k]) for k in base if ".layers.1." in k)


def test_compare_runs_reads_a_recipes_run(recipes_run, tmp_path):
    proc = run_cli("compare-runs", recipes_run, "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(tmp_path / "compare-runs.csv")
    s = json.loads((recipes_run / "summary.json").read_text())
    assert list(table["recipe"]) == [p["recipe"] for p in s["points"]]
    for key in ("target_gain", "forgetting", "pseudo", "actual"):
        assert table[key].tolist() == pytest.approx([p[key] for p in s["points"]], abs=0)
        assert table[f"{key}_lo"].tolist() == pytest.approx([p[f"{key}_ci"][0] for p in s["points"]], abs=0)


@pytest.mark.parametrize("recipes, fragment", [
    ([{"name": "a"}, {"name": "a", "lr": 0.1}], "recipe names must be distinct (a twice)"),
    ([{"name": "a"}, {"name": "b", "lora": {"r": 2}, "freeze_layers": 1}], "options of full fine-tuning here, not of LoRA"),
    ([{"name": "a", "replay": 0.5}], "list one recipe that trains as the trajectory study does"),
    ([{"name": "a", "checkpoints_from": "out", "lr": 0.1}], "takes no training option"),
    ([{"name": "a", "checkpoints_from": "out"}], "recipe a: finetune.checkpoints_from needs a pretrained base"),
])
def test_bad_recipes_are_one_line_before_compute(tmp_path, recipes, fragment):
    cfg = _config(tmp_path)
    cfg["recipes"] = recipes
    assert_one_line_error(run_cli("validate", write_yaml(tmp_path / "bad.yaml", cfg)), fragment)
