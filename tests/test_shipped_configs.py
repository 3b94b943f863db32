"""The configs a user copies from configs/ say what the demo runs: the written-out demo configs
resolve to exactly the values of the embedded ones (`forgetscope demo`), so a figure in the docs
reproduces from either; every shipped config loads, and so does the config.yaml its run writes."""

from pathlib import Path

import pytest

from forgetscope.demo import demo_config_path
from forgetscope.studies.registry import load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("study", ["regression"])
def test_written_out_demo_configs_resolve_to_the_embedded_demo(study):
    _, embedded = load_config(demo_config_path(study))
    _, written = load_config(CONFIGS / f"{study}-demo.yaml")
    assert written.model_dump() == embedded.model_dump()


def test_the_trajectory_demo_is_written_in_its_yaml_not_in_python_defaults():
    """The embedded trajectory demo config holds the demo's design itself (every part of the world, the
    model's shape, every training budget, the seeds, the shared base and the checkpoints), so that
    a change of a library default cannot change the demo unseen; Python keeps types and bounds."""
    import yaml

    raw = yaml.safe_load(demo_config_path("trajectory").read_text())
    _, cfg = load_config(demo_config_path("trajectory"))
    resolved = cfg.model_dump(mode="json")
    for section in ("world", "base", "finetune", "restore", "analysis"):
        assert section in raw, f"the demo config leaves {section} to Python defaults"
    for key in ("people", "pretrain", "restoration", "instructions", "probes"):
        assert raw["world"][key] == {k: resolved["world"][key][k] for k in raw["world"][key]}
        assert set(raw["world"][key]) == set(resolved["world"][key]), f"world.{key} is written in part"
    for part in ("model",):
        assert set(raw["base"][part]) >= {"layers", "hidden", "heads", "mlp_ratio", "tie_embeddings"}
    for section in ("base", "finetune", "restore"):
        assert {"steps", "batch_size", "lr", "lr_schedule", "max_length"} <= set(raw[section]["train"])
    assert raw["seeds"] == cfg.seeds and raw["base_seed"] == cfg.base_seed
    assert raw["finetune"]["checkpoints"]["steps"] == cfg.finetune.checkpoints.steps


def test_the_demo_keeps_the_fact_worlds_embeddings_in_fine_tuning_and_restoration():
    _, cfg = load_config(demo_config_path("trajectory"))
    assert cfg.finetune.train.freeze_embeddings and cfg.restore.train.freeze_embeddings
    assert not cfg.base.train.freeze_embeddings  # pre-training learns the embeddings


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads(path, tmp_path):
    """... and the config.yaml a run of it writes (every field written out, defaults included) loads
    again as the same config: `reanalyze`, `report`'s advice and a resumed run read it back (a
    pretrained-base unlearning run's did not: its check named the fact-world fields a file gives)."""
    from forgetscope.config import dump_yaml

    study, cfg = load_config(path)
    assert cfg.study == study.name and path.read_text().count(f"study: {study.name}") == 1
    written = tmp_path / "config.yaml"
    written.write_text(dump_yaml(cfg))
    again_study, again = load_config(written)
    assert again_study.name == study.name and again == cfg
