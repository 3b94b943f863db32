"""Read-only views of finished runs: how a study reads what another study wrote. Studies meet only
through these (the run folder's published layout), never through each other's modules.

A trajectory run (docs/outputs.md) publishes, per seed, its world (`1_world/`), its base
(`2_base/model/`, or the configured pretrained model) and its fine-tuning checkpoints
(`3_finetune/checkpoints/step-NNNNNN/`, listed in `3_finetune/_done.json`; a run of checkpoints it
did not train, `finetune.checkpoints_from`, lists each one's folder there under `sources`).
"""

from __future__ import annotations

from pathlib import Path

import torch

from forgetscope.errors import UserError
from forgetscope.models import load_model, load_tokenizer
from forgetscope.runs import read_run_config
from forgetscope.store import RunStore
from forgetscope.training.checkpoints import step_name
from forgetscope.world.build import read_l2_lexicon

# The trajectory study's per-seed stages, in order (the study names its stage folders from here).
TRAJECTORY_STAGES = ("1_world", "2_base", "3_finetune", "4_evaluate", "5_pattern", "6_restore")
WORLD_STAGE, BASE_STAGE, FINETUNE_STAGE, EVALUATE_STAGE, PATTERN_STAGE, RESTORE_STAGE = TRAJECTORY_STAGES


class TrajectoryRun:
    """A trajectory run folder, read only."""

    def __init__(self, root: str | Path):
        self.store = RunStore(root)
        self.root = self.store.root

    @property
    def exists(self) -> bool:
        return self.store.config_path.exists()

    @property
    def config(self) -> dict:
        if not self.exists:
            raise UserError(f"{self.root}: no trajectory run there (no config.yaml)")
        data = read_run_config(self.store)
        if data.get("study") != "trajectory":
            raise UserError(f"{self.root}: holds a {data.get('study')!r} run, not a trajectory run")
        return data

    @property
    def finished(self) -> bool:
        """The whole run is done: its summary and report are written (the last things a run writes)."""
        return self.store.summary_path.exists() and self.store.report_path.exists()

    @property
    def seeds(self) -> list[int]:
        return [int(s) for s in self.config["seeds"]]

    @property
    def has_world(self) -> bool:
        """A run on the fact world (a tiny base pre-trained on it), not on a pretrained model."""
        return (self.config.get("base") or {}).get("kind") == "tiny"

    def ready(self, seed: int) -> bool:
        """Its world, base and checkpoints are complete, and intact (a damaged stage is left for the
        trajectory study to redo: this view never writes)."""
        return all(self.store.stage(s, seed).intact(repair=False) for s in (WORLD_STAGE, BASE_STAGE, FINETUNE_STAGE))

    def world_dir(self, seed: int) -> Path:
        return self.store.stage(WORLD_STAGE, seed).path

    def steps(self, seed: int) -> list[int]:
        """The fine-tuning checkpoints' steps (without the base)."""
        return [int(s) for s in self.store.stage(FINETUNE_STAGE, seed).record()["checkpoints"]]

    def model_path(self, seed: int, step: int) -> Path:
        """Step 0 is the base."""
        if step == 0:
            return self.store.stage(BASE_STAGE, seed).path / "model"
        if step not in self.steps(seed):
            raise UserError(f"{self.root}: seed {seed} has no checkpoint at step {step} (its steps: {self.steps(seed)})")
        for c in self.store.stage(FINETUNE_STAGE, seed).record().get("sources", []):  # finetune.checkpoints_from
            if int(c["step"]) == step:
                return Path(c["path"])
        return self.store.stage(FINETUNE_STAGE, seed).path / "checkpoints" / step_name(step)

    def tokenizer(self, seed: int):
        return load_tokenizer(self.world_dir(seed) / "tokenizer")

    def load_model(self, seed: int, step: int, device: str | torch.device = "cpu"):
        return load_model(self.model_path(seed, step), device=device)

    def l2_lexicon(self, seed: int) -> dict[str, str]:
        """The world's L1 -> L2 lexicon (a one-language world: a UserError)."""
        return read_l2_lexicon(self.world_dir(seed))
