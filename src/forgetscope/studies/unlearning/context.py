"""What every stage of one seed needs: the config, the run store, the seed, the world's forget split,
the probe items, and where each model is."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from forgetscope.evaluation.items import ProbeItem
from forgetscope.studies.seeds import StudySeed
from forgetscope.studies.unlearning.config import UnlearningConfig

STAGES = ("1_world", "2_bases", "3_unlearn", "4_evaluate", "5_relearn")
WORLD_STAGE, BASES_STAGE, UNLEARN_STAGE, EVALUATE_STAGE, RELEARN_STAGE = STAGES
CONTROL = "oracle-control"  # the oracle relearned as the control; "oracle" is the second oracle, audited
PROBES = ("forget", "retain", "general", "forget_l2")


@dataclass
class SeedContext(StudySeed):
    cfg: UnlearningConfig

    @property
    def world_seed(self) -> int:
        return self.seed if self.cfg.base_seed is None else self.cfg.base_seed

    def shared_stage(self, name: str):
        """The world's and the bases' stages: one at the run's top when the seeds share them (`base_seed`),
        whose units (one base each) the seed processes take in parallel; else the seed's own."""
        return self.store.stage(name, None if self.cfg.base_seed is not None else self.seed)

    @property
    def world_dir(self) -> Path:
        return self.shared_stage(WORLD_STAGE).path

    @cached_property
    def world(self):
        from forgetscope.world.build import build_world

        return build_world(self.cfg.world, self.world_seed)

    @cached_property
    def split(self):
        from forgetscope.world.forget import forget_split

        return forget_split(self.world, self.cfg.forget.people, self.cfg.forget.folds)

    @cached_property
    def tokenizer(self):
        from forgetscope.models import load_tokenizer

        return load_tokenizer(self.world_dir / "tokenizer")

    def rows(self, name: str) -> list[dict]:
        return [json.loads(line) for line in (self.world_dir / f"{name}.jsonl").read_text(encoding="utf-8").splitlines() if line]

    @cached_property
    def items(self) -> dict[str, list[ProbeItem]]:
        """Probe items by probe name (forget, retain, general, forget_l2), as stage 1 wrote them."""
        out: dict[str, list[ProbeItem]] = {}
        for row in self.rows("unlearning_probes"):
            item = ProbeItem.model_validate(row)
            out.setdefault(item.probe, []).append(item)
        return out

    def fold_people(self, fold: int) -> set[str]:
        return {p.id for p in self.split.folds[fold]}

    # -- models --------------------------------------------------------------------------------
    def model_path(self, name: str) -> Path:
        """base, oracle-control (the control), oracle (the audited second oracle), or a method's label."""
        if name == CONTROL and self.cfg.oracle.path is not None:
            return Path(self.cfg.oracle.path).expanduser()
        if name in ("base", CONTROL, "oracle"):
            return self.shared_stage(BASES_STAGE).path / name / "model"
        return self.stage(UNLEARN_STAGE).path / name

    def load(self, name: str):
        from forgetscope.models import load_model

        return load_model(self.model_path(name), device=self.device)

    @property
    def relearned(self) -> list[str]:
        """The models relearning attacks run on: the control and every audited model."""
        return [CONTROL, *self.cfg.audited]
