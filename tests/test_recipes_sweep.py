"""The recipes study's shared control, weight-interpolation sweep and KL interval: the restored base
restored once for every recipe (counted at the restorer) and read alike by every recipe; the sweep's
alpha = 0 and alpha = 1 against the base's and the last checkpoint's own item scores; the KL rank
correlation's interval over points (Fisher's z, by hand and by its coverage) and over seeds (a jackknife, against a brute-force recomputation)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import assert_matches_schema, run_cli, write_yaml
from scipy import stats

from forgetscope.studies.recipes.measures import points_interval, seed_jackknife_interval, spearman_interval

RECIPES = [{"name": "full"}, {"name": "lora-r2", "lora": {"r": 2, "alpha": 4}, "lr": 0.01}]
ALPHAS = [0.0, 0.5, 1.0]


def _config(d: Path) -> dict:
    from conftest import SMOKE

    cfg = json.loads(json.dumps(SMOKE))
    cfg.update(study="recipes", name="recipes-sweep-test", seeds=[0], base_seed=0, recipes=RECIPES,
               interpolation={"alphas": ALPHAS})
    cfg["finetune"]["train"]["lr"] = 0.01
    cfg["finetune"]["checkpoints"] = {"steps": [9]}  # one checkpoint a recipe keeps the run short
    cfg["analysis"] = {"n_bootstrap": 100, "kl_examples": 8}
    cfg["runtime"] = {"workers": 1, "cache_dir": str(d / "cache")}
    return cfg


def _weights(folder: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    out = {}
    for f in sorted(Path(folder).glob("*.safetensors")):
        out.update(load_file(f))
    return out


@pytest.fixture(scope="module")
def sweep_run(tmp_path_factory):
    """One tiny run (one seed, two recipes, three alphas), with every LM-training restoration recorded
    as 'of the base' or not by comparing the model it starts from with the base's weights."""
    from forgetscope.restoration.lm_training import LMTrainingRestorer

    d = tmp_path_factory.mktemp("recipes-sweep")
    calls: list[bool] = []
    original = LMTrainingRestorer.restore

    def counted(self, model, job):
        state = model.state_dict()
        calls.append(all(torch.equal(state[k], v) for k, v in _weights(job.base_path).items() if k in state))
        return original(self, model, job)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(LMTrainingRestorer, "restore", counted)
        proc = run_cli("run", write_yaml(d / "recipes.yaml", _config(d)), "--out", str(d / "run"), "-q")
    assert proc.returncode == 0, proc.stderr
    return d / "run", calls


def _items(run: Path, recipe: str) -> pd.DataFrame:
    return pd.read_parquet(run / "recipes" / recipe / "results" / "items.parquet")


def test_the_restored_base_is_restored_once_for_every_recipe(sweep_run):
    run, calls = sweep_run
    checkpoints = len(RECIPES)  # one checkpoint each
    assert calls.count(True) == 1, calls  # one seed: one restoration of the base, not one per recipe
    assert calls.count(False) == checkpoints
    record = json.loads((run / "recipes" / "lora-r2" / "seed-0" / "6_restore" / "restored-step-000000_done.json").read_text())
    assert record["shared_from"] == "full"


def test_every_recipe_reads_the_same_control(sweep_run):
    run, _ = sweep_run
    controls = []
    for r in RECIPES:
        items = _items(run, r["name"])
        controls.append(items[(items["condition"] == "restored") & (items["step"] == 0)].sort_values("item_id").reset_index(drop=True))
    pd.testing.assert_frame_equal(controls[0], controls[1])
    assert len(controls[0]) > 0
    summaries = [json.loads((run / "recipes" / r["name"] / "summary.json").read_text()) for r in RECIPES]
    for probe in summaries[0]["probes"]:
        assert summaries[0]["probes"][probe]["restored_base"] == summaries[1]["probes"][probe]["restored_base"]
        assert summaries[0]["probes"][probe]["ci"] == summaries[1]["probes"][probe]["ci"]


def _sweep_items(run: Path, recipe: str, alpha: float) -> pd.DataFrame:
    sweep = pd.read_parquet(run / "results" / "interpolation_items.parquet")
    return sweep[(sweep["recipe"] == recipe) & (sweep["alpha"] == alpha)].set_index("item_id").sort_index()


@pytest.mark.parametrize("recipe", [r["name"] for r in RECIPES])
def test_interpolation_ends_reproduce_the_base_and_the_checkpoint_exactly(sweep_run, recipe):
    run, _ = sweep_run
    items = _items(run, recipe).query("condition == 'checkpoint'")
    last = items["step"].max()
    for alpha, step in ((0.0, 0), (1.0, last)):
        own = items[items["step"] == step].set_index("item_id").sort_index()
        swept = _sweep_items(run, recipe, alpha)
        assert list(swept.index) == list(own.index)
        assert (swept["score"].to_numpy() == own["score"].to_numpy()).all(), (recipe, alpha)
        np.testing.assert_array_equal(swept["answer_logprob"].to_numpy(), own["answer_logprob"].to_numpy())
    middle = _sweep_items(run, recipe, 0.5)["answer_logprob"].to_numpy()
    for alpha in (0.0, 1.0):  # not degenerate: half way is neither end
        assert not np.allclose(middle, _sweep_items(run, recipe, alpha)["answer_logprob"].to_numpy(), equal_nan=True)


def test_interpolation_curve_in_the_summary(sweep_run):
    run, _ = sweep_run
    assert_matches_schema(run / "summary.json", "recipes")
    s = json.loads((run / "summary.json").read_text())
    assert [(q["recipe"], q["alpha"]) for q in s["interpolation"]] == [(r["name"], a) for r in RECIPES for a in ALPHAS]
    for q in s["interpolation"]:
        last = max(p["step"] for p in s["points"] if p["recipe"] == q["recipe"])
        assert q["step"] == last
        if q["alpha"] == 0.0:
            assert q["target_gain"] == 0.0 and q["forgetting"] == 0.0
        if q["alpha"] == 1.0:
            point = next(p for p in s["points"] if p["recipe"] == q["recipe"] and p["step"] == last)
            assert q["target_gain"] == pytest.approx(point["target_gain"], abs=2e-6)
            assert q["forgetting"] == pytest.approx(point["forgetting"], abs=2e-6)
        assert q["forgetting_ci"] == [None, None]  # one seed: no t-interval, not a made-up one
    assert "weight interpolation" in (run / "report.html").read_text().lower()


# -- the forward-KL rank correlation's interval ------------------------------------------------------

def _brute_force(x_by_seed, y_by_seed, level):
    """Leave each seed out by hand (pandas means of the others, scipy's Spearman), then the jackknife
    standard error and scipy's t quantile."""
    n_seeds, n_points = np.shape(x_by_seed)
    rhos = []
    for out in range(n_seeds):
        rows = [{"point": j, "x": x_by_seed[i][j], "y": y_by_seed[i][j]} for i in range(n_seeds) if i != out for j in range(n_points)]
        means = pd.DataFrame(rows).groupby("point")[["x", "y"]].mean()
        rhos.append(stats.spearmanr(means["x"], means["y"]).statistic)
    rho = stats.spearmanr(np.mean(x_by_seed, axis=0), np.mean(y_by_seed, axis=0)).statistic
    se = np.sqrt((n_seeds - 1) / n_seeds * np.sum((np.array(rhos) - np.mean(rhos)) ** 2))
    half = stats.t.ppf(0.5 + level / 2, n_seeds - 1) * se
    return rho, max(-1.0, rho - half), min(1.0, rho + half)


@pytest.mark.parametrize("n_seeds", [3, 5])
def test_seed_interval_is_a_jackknife_as_a_brute_force_recomputation_is(n_seeds):
    rng = np.random.default_rng(7)
    truth = np.arange(8, dtype=float)
    xs = truth + rng.normal(0, 1.5, size=(n_seeds, 8))  # eight recipe x checkpoint points
    ys = truth + rng.normal(0, 3.0, size=(n_seeds, 8))
    rho, lo, hi = _brute_force(xs, ys, 0.9)
    assert seed_jackknife_interval(rho, xs, ys, level=0.9) == pytest.approx((lo, hi), abs=1e-12)
    assert lo < rho < hi


def test_seed_interval_is_about_seeds():
    """Seeds that agree exactly leave nothing to vary: the seed interval is the point, however few the
    points; one or two seeds give none, and then the finding has no interval at all."""
    x, y = np.array([1.0, 2, 3, 4, 5, 6]), np.array([2.0, 1, 4, 3, 6, 5])
    rho = stats.spearmanr(x, y).statistic
    lo, hi = seed_jackknife_interval(rho, np.tile(x, (3, 1)), np.tile(y, (3, 1)), level=0.95)
    assert lo == pytest.approx(rho) and hi == pytest.approx(rho) and rho < 1
    for n in (1, 2):
        rho_n, lo_n, hi_n = spearman_interval(x, y, np.tile(x, (n, 1)), np.tile(y, (n, 1)), level=0.95)
        assert rho_n == pytest.approx(rho) and np.isnan(lo_n) and np.isnan(hi_n)


def test_seeds_that_disagree_decide_nothing():
    """Three seeds, one ranking the points in the opposite order: the interval spans 0."""
    up, down = [1.0, 2, 3, 4, 5, 6], [6.5, 5.2, 4.1, 3.0, 2.2, 1.1]
    x = np.array([up, up, up])
    y = np.array([up, up, down])
    rho, lo, hi = spearman_interval(x.mean(axis=0), y.mean(axis=0), x, y, level=0.95)
    assert rho == 1.0 and lo < 0 < hi


def test_points_interval_is_fisher_z_and_covers_at_its_level():
    """Over the points: Fisher's z with Bonett and Wright's variance, by hand; and its coverage of the
    population Spearman correlation of bivariate normal points (6/pi asin(r/2)) over 2,000 simulated
    samples of 15 points lies within three binomial standard errors of 95%."""
    rho, n = 0.5, 15
    half = stats.norm.ppf(0.975) * np.sqrt((1 + rho**2 / 2) / (n - 3))
    assert points_interval(rho, n, level=0.95) == pytest.approx((np.tanh(np.arctanh(rho) - half), np.tanh(np.arctanh(rho) + half)))
    assert np.isnan(points_interval(rho, 3, level=0.95)).all()
    r = 0.6
    truth = 6 / np.pi * np.arcsin(r / 2)
    rng = np.random.default_rng(11)
    hits = 0
    for _ in range(2000):
        xy = rng.multivariate_normal([0, 0], [[1, r], [r, 1]], size=n)
        lo, hi = points_interval(stats.spearmanr(xy[:, 0], xy[:, 1]).statistic, n, level=0.95)
        hits += lo <= truth <= hi
    assert abs(hits / 2000 - 0.95) < 3 * np.sqrt(0.95 * 0.05 / 2000)


def test_the_finding_needs_both_intervals():
    """Seeds that agree exactly (a zero-width seed interval) on six points: the interval is the points'
    (the hull), so six points with rho 0.83 decide nothing; the seeds' interval alone would say holds."""
    x, y = np.array([1.0, 2, 3, 4, 5, 6]), np.array([2.0, 1, 4, 3, 6, 5])
    rho, lo, hi = spearman_interval(x, y, np.tile(x, (3, 1)), np.tile(y, (3, 1)), level=0.95)
    assert (lo, hi) == pytest.approx(points_interval(rho, 6, level=0.95)) and lo < 0 < hi
