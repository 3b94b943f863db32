"""What every stage of one seed needs: the config, the run store, the seed, the task families."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from forgetscope.studies.regression.config import RegressionConfig
from forgetscope.studies.regression.data import TaskFamilies
from forgetscope.studies.seeds import StudySeed
from forgetscope.training.checkpoints import step_name

STAGES = ("1_base", "2_finetune", "3_evaluate")  # the per-seed stages, in order
BASE_STAGE, FINETUNE_STAGE, EVALUATE_STAGE = STAGES


@dataclass
class SeedContext(StudySeed):
    cfg: RegressionConfig

    @cached_property
    def families(self) -> TaskFamilies:
        t = self.cfg.task
        return TaskFamilies.from_seed(t.d, t.n_discrete, t.sigma, t.tau, self.seed)

    @property
    def base_path(self) -> Path:
        return self.stage(BASE_STAGE).path / "model"

    @property
    def checkpoints_dir(self) -> Path:
        return self.stage(FINETUNE_STAGE).path / "checkpoints"

    def model_path(self, step: int) -> Path:
        return self.base_path if step == 0 else self.checkpoints_dir / step_name(step)

    @property
    def steps(self) -> list[int]:
        """Fine-tuning checkpoints, without the base; the last is the fine-tuned model."""
        return self.cfg.finetune.checkpoints.resolve(self.cfg.finetune.train.steps)
