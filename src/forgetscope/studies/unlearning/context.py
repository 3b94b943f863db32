"""What every stage of one seed needs: the config, the run store, the seed, the forget split (the
world's, or a pretrained base's probe file), the probe items, and where each model is."""

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
PROBES = ("forget", "retain", "general", "forget_l2")  # and forget_<transform> on a pretrained base
TASKS_SUFFIX = ".general_tasks.parquet"  # 4_evaluate/<model>.general_tasks.parquet: general_tasks' documents


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

        return self.cfg.base.load_tokenizer() if self.cfg.pretrained else load_tokenizer(self.world_dir / "tokenizer")

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

    @cached_property
    def _fold_ids(self) -> list[set[str]]:
        return [set(f) for f in json.loads((self.world_dir / "folds.json").read_text(encoding="utf-8"))]

    def in_fold(self, item: ProbeItem, fold: int) -> bool:
        """Whether a forget item is in the forget set's part `fold`: its person's (fact world) or its own."""
        if self.cfg.pretrained:
            return item.id in self._fold_ids[fold]
        return item.meta["person"] in {p.id for p in self.split.folds[fold]}

    # -- models --------------------------------------------------------------------------------
    def model_path(self, name: str) -> Path | str:
        """base, oracle-control (the control), oracle (the audited second oracle), a method's label, an
        unlearned folder's label, or checkpoint-N."""
        cfg = self.cfg
        if name == CONTROL and cfg.oracle.path is not None:
            return Path(cfg.oracle.path).expanduser()
        if name == "base" and cfg.pretrained:
            return cfg.base.path
        if name in ("base", CONTROL, "oracle"):
            return self.shared_stage(BASES_STAGE).path / name / "model"
        folder = next((u.path for u in cfg.unlearned if u.label == name), None)
        if folder is not None:
            return Path(folder).expanduser()
        if name.startswith("checkpoint-"):
            return next(c.path for c in cfg.checkpoints() if f"checkpoint-{c.step}" == name)
        return self.stage(UNLEARN_STAGE).path / name

    def load(self, name: str):
        """A model by name; on a pretrained base loaded as the base is (its dtype; an adapter onto it)."""
        from forgetscope.models import load_model

        if self.cfg.pretrained:
            if name.startswith("checkpoint-"):
                c = next(c for c in self.cfg.checkpoints() if f"checkpoint-{c.step}" == name)
                return self.cfg.base.load_model(self.device, path=c.path, revision=c.revision)
            return self.cfg.base.load_model(self.device, path=None if name == "base" else self.model_path(name))
        return load_model(self.model_path(name), device=self.device)

    @property
    def relearned(self) -> list[str]:
        """The models relearning attacks run on: the control (when there is one) and every audited model."""
        return ([CONTROL] if self.cfg.has_control else []) + self.cfg.audited
