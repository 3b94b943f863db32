"""Seeds that share one world and base (`base_seed`), and a doubled restoration budget run as a
continuation of the budget-1 run (`continues`): what each must do, checked against a plain re-run."""

import copy

import pytest
import torch
from pydantic import ValidationError
from safetensors.torch import load_file

from forgetscope.restoration import build_restorers
from forgetscope.restoration.base import RestoreJob
from forgetscope.studies.trajectory.config import RestoreConfig, TrajectoryConfig
from forgetscope.training import TrainConfig
from forgetscope.training.batches import LMBatches

from conftest import with_changes


def _weights(folder):
    return load_file(str(folder / "model.safetensors"))


@pytest.fixture(scope="module")
def shared_run(tmp_path_factory):
    """Two seeds of the smoke study sharing the world and base of seed 5, through the Python API."""
    from conftest import SMOKE
    from forgetscope.execution import ProgressView
    from forgetscope.studies.trajectory.main import run_trajectory

    cfg = with_changes(copy.deepcopy(SMOKE), seeds=[0, 1], base_seed=5, runtime__workers=2,
                       finetune__checkpoints={"steps": [3, 9]},
                       restore__restorers=[{"name": "lm_training"}, {"name": "lm_training", "budget": 2, "continues": True}])
    out = tmp_path_factory.mktemp("shared")
    cfg["runtime"]["cache_dir"] = str(tmp_path_factory.mktemp("own-cache"))  # no base of another test to find
    with ProgressView(quiet=True) as view:
        summary = run_trajectory(TrajectoryConfig.model_validate(cfg), out, view)
    return out, summary


def test_seeds_share_the_world_and_base_and_differ_in_fine_tuning(shared_run):
    out, _ = shared_run
    for f in ("pretrain.jsonl", "probes.jsonl", "ift.jsonl", "restore.jsonl"):
        assert (out / "seed-0/1_world" / f).read_bytes() == (out / "seed-1/1_world" / f).read_bytes(), f
    b0, b1 = _weights(out / "seed-0/2_base/model"), _weights(out / "seed-1/2_base/model")
    assert b0.keys() == b1.keys() and all(torch.equal(b0[k], b1[k]) for k in b0)
    c0 = _weights(out / "seed-0/3_finetune/checkpoints/step-000003")
    c1 = _weights(out / "seed-1/3_finetune/checkpoints/step-000003")
    assert any(not torch.equal(c0[k], c1[k]) for k in c0)  # the seeds' fine-tuning batches differ


def test_the_shared_base_is_pretrained_once(shared_run):
    import json

    out, _ = shared_run
    records = [json.loads((out / f"seed-{s}/2_base/_done.json").read_text()) for s in (0, 1)]
    froms = sorted(r.get("result", r).get("from_cache") for r in records)
    assert froms == [False, True]


def test_the_world_seed_is_the_base_seed_not_the_run_seed(shared_run, tiny_world):
    """Seed 0 of a run with base_seed 5 has the world of seed 5, not that of seed 0."""
    from conftest import SMOKE
    from forgetscope.world.build import build_world
    from forgetscope.world.config import WorldConfig

    out, _ = shared_run
    names = {p.name for p in build_world(WorldConfig.model_validate(SMOKE["world"]), seed=5).people}
    assert {p.name for p in tiny_world.people} != names  # seed 0's world has other people
    text = (out / "seed-0/1_world/probes.jsonl").read_text()
    evaluated = [n for n in names if n in text]
    assert evaluated  # the probes ask about seed 5's people


def test_continued_restorer_results_are_written_for_every_step(shared_run):
    out, summary = shared_run
    for s in (0, 1):
        for step in (0, 3, 9):
            assert (out / f"seed-{s}/6_restore/restored-x2-step-{step:06d}.items.parquet").is_file()
    conds = [r["condition"] for r in summary.model_dump()["restorers"]]
    assert conds == ["restored", "restored-x2"]


def test_a_continuation_trains_on_the_batches_that_follow(tiny_lm):
    """Budget 1 then the continuation equals one run of budget 1 followed by a run, with its own
    schedule, over exactly the batches of steps N..2N-1 of the same seed."""
    model, tok = tiny_lm
    texts = [f"alpha beta gamma {i} delta" for i in range(200)]
    cfg = TrainConfig(steps=4, batch_size=4, lr=1e-3, lr_schedule="linear", max_length=16)
    specs = RestoreConfig.model_validate({"restorers": ["lm_training", {"name": "lm_training", "budget": 2, "continues": True}]})
    restorers = build_restorers(specs.restorers)
    job = RestoreJob(tokenizer=tok, texts=lambda: texts, train=cfg, base_path="", seed=3)
    ours = restorers[1].continue_restoration(restorers[0].restore(copy.deepcopy(model), job), job)

    # by hand: the first run, then a second run over batches shifted by 4 steps
    class Shifted(LMBatches):
        def global_indices(self, step, batch_size):
            return super().global_indices(step + 4, batch_size)

    from forgetscope.training import train

    ref = copy.deepcopy(model)
    train(ref, LMBatches(texts, tok, 16, seed=3), cfg, seed=3)
    train(ref, Shifted(texts, tok, 16, seed=3), cfg, seed=3)
    for (k, a), (_, b) in zip(ours.state_dict().items(), ref.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=k)
    # and it is not the same as restarting the first run's batches
    again = copy.deepcopy(model)
    train(again, LMBatches(texts, tok, 16, seed=3), cfg, seed=3)
    train(again, LMBatches(texts, tok, 16, seed=3), cfg, seed=3)
    assert any(not torch.equal(a, b) for a, b in zip(ours.state_dict().values(), again.state_dict().values()))


@pytest.mark.parametrize("restorers, message", [
    ([{"name": "lm_training", "budget": 2, "continues": True}], "continues the budget-1"),
    ([{"name": "lm_training"}, {"name": "lm_training", "budget": 1, "continues": True}], "larger than 1"),
    ([{"name": "lm_training"}, {"name": "lm_training", "budget": 2, "continues": True, "curve": [0.5]}], "no curve"),
])
def test_a_continuation_needs_a_budget_one_run_to_continue(smoke_config, restorers, message):
    with pytest.raises(ValidationError, match=message):
        TrajectoryConfig.model_validate(with_changes(smoke_config, restore__restorers=restorers))


def test_base_seed_needs_a_tiny_base(smoke_config, tmp_path):
    cfg = {"study": "trajectory", "base_seed": 0, "base": {"kind": "pretrained", "path": str(tmp_path)},
           "finetune": {"data": "a.jsonl"}, "restore": {"data": "b.jsonl"}, "eval": {"probes": "c.jsonl",
           "heldout_text": None, "pattern_prompts": None}}
    with pytest.raises(ValidationError, match="base_seed"):
        TrajectoryConfig.model_validate(cfg)
