"""The configs a user copies from configs/ say what the demo runs: the written-out demo configs
resolve to exactly the values of the embedded ones (`forgetscope demo`), so a figure in the docs
reproduces from either; every shipped config loads."""

from pathlib import Path

import pytest

from forgetscope.demo import demo_config_path
from forgetscope.studies.registry import load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("study", ["trajectory", "regression"])
def test_written_out_demo_configs_resolve_to_the_embedded_demo(study):
    _, embedded = load_config(demo_config_path(study))
    _, written = load_config(CONFIGS / f"{study}-demo.yaml")
    assert written.model_dump() == embedded.model_dump()


def test_the_demo_keeps_the_fact_worlds_embeddings_in_fine_tuning_and_restoration():
    _, cfg = load_config(demo_config_path("trajectory"))
    assert cfg.finetune.train.freeze_embeddings and cfg.restore.train.freeze_embeddings
    assert not cfg.base.train.freeze_embeddings  # pre-training learns the embeddings


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads(path):
    study, cfg = load_config(path)
    assert cfg.study == study.name and path.read_text().count(f"study: {study.name}") == 1
