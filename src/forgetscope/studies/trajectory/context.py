"""What every stage of one seed needs: the config, the run store, the seed, where things are."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from forgetscope.data import DataSource, as_source, load_rows
from forgetscope.errors import UserError
from forgetscope.evaluation.items import ProbeItem, load_items
from forgetscope.evaluation.probe_runner import ProbeSettings
from forgetscope.models import load_model, load_tokenizer
from forgetscope.models.checkpoints_from import find_checkpoints
from forgetscope.studies.common_config import WORLD
from forgetscope.studies.seeds import StudySeed
from forgetscope.studies.trajectory.config import TrajectoryConfig
from forgetscope.training.checkpoints import step_name
from forgetscope.views import BASE_STAGE, FINETUNE_STAGE, WORLD_STAGE
from forgetscope.world.build import read_l2_lexicon


@dataclass
class SeedContext(StudySeed):
    cfg: TrajectoryConfig

    @property
    def world_seed(self) -> int:
        """The seed of the fact world and the tiny base: `base_seed` when the seeds share them."""
        return self.seed if self.cfg.base_seed is None else self.cfg.base_seed

    # -- where the data is -----------------------------------------------------------------------
    @property
    def world_dir(self) -> Path:
        return self.stage(WORLD_STAGE).path

    def source(self, ref: str | DataSource, world_file: str) -> str | DataSource:
        return str(self.world_dir / world_file) if ref == WORLD else ref

    def label(self, ref: str | DataSource, world_file: str) -> str:
        """How errors name a data source."""
        return as_source(self.source(ref, world_file)).label

    def rows(self, ref: str | DataSource, world_file: str) -> list[dict]:
        return load_rows(self.source(ref, world_file))

    @cached_property
    def probe_items(self) -> list[ProbeItem]:
        return load_items(self.source(self.cfg.eval.probes, "probes.jsonl"))

    @cached_property
    def heldout_rows(self) -> list[dict]:
        if self.cfg.eval.heldout_text is None:
            return []
        return self.rows(self.cfg.eval.heldout_text, "heldout.jsonl")

    @cached_property
    def pattern_prompts(self) -> dict[str, list[str]]:
        """Rendered prompts by format: {"messages"} rows are chat, {"text"} rows plain text."""
        if self.cfg.eval.pattern_prompts is None:
            return {}
        rows = self.rows(self.cfg.eval.pattern_prompts, "pattern_prompts.jsonl")
        out: dict[str, list[str]] = {}
        for i, r in enumerate(rows, 1):
            if "messages" in r:
                out.setdefault("chat", []).append(self.tokenizer.apply_chat_template(r["messages"], tokenize=False, add_generation_prompt=True))
            elif "text" in r:
                out.setdefault("plain", []).append(r["text"])
            else:
                raise UserError(f"{self.label(self.cfg.eval.pattern_prompts, 'pattern_prompts.jsonl')}: row {i}: expected 'messages' or 'text'")
        return out

    @property
    def probe_settings(self) -> ProbeSettings:
        lex = read_l2_lexicon(self.world_dir, required=False) if self.cfg.uses_world else None
        return ProbeSettings.for_eval(self.cfg.eval.max_new_tokens, self.cfg.eval.stop, lex)

    # -- models --------------------------------------------------------------------------------
    @property
    def base_path(self) -> str:
        if self.cfg.base.kind == "tiny":
            return str(self.stage(BASE_STAGE).path / "model")
        return self.cfg.base.path

    @property
    def checkpoints_dir(self) -> Path:
        return self.stage(FINETUNE_STAGE).path / "checkpoints"

    @cached_property
    def external(self) -> dict[int, dict]:
        """finetune.checkpoints_from: each step's checkpoint as the fine-tuning stage recorded it."""
        if self.cfg.finetune.checkpoints_from is None:
            return {}
        return {int(c["step"]): c for c in self.stage(FINETUNE_STAGE).record()["sources"]}

    def model_path(self, step: int) -> str:
        if step == 0:
            return self.base_path
        if self.external:
            return self.external[step]["path"]
        return str(self.checkpoints_dir / step_name(step))

    @cached_property
    def tokenizer(self):
        if self.cfg.base.kind == "tiny":
            return load_tokenizer(self.world_dir / "tokenizer")
        return self.cfg.base.load_tokenizer()

    def load(self, path: str, *, for_probing: bool = False, revision: str | None = None):
        """A model by path. Adapter checkpoints load merged, except for probing when the config asks
        to probe them as base + adapter (restoration always trains the merged model)."""
        lora = self.cfg.finetune.train.lora
        merge = not (for_probing and lora is not None and lora.evaluate == "adapter")
        if self.cfg.base.kind == "tiny":
            return load_model(path, device=self.device, merge_adapter=merge)
        return self.cfg.base.load_model(self.device, path=path, merge_adapter=merge, revision=revision)

    def load_step(self, step: int, *, for_probing: bool = False):
        """The base (step 0) or the checkpoint of `step` (a hub checkpoint at its revision)."""
        revision = self.external[step]["revision"] if step in self.external else None
        return self.load(self.model_path(step), for_probing=for_probing, revision=revision)

    @property
    def steps(self) -> list[int]:
        """Checkpoint steps, without the base: those fine-tuning keeps, or those it found."""
        if self.cfg.finetune.checkpoints_from is not None:
            if self.stage(FINETUNE_STAGE).done:
                return [int(s) for s in self.stage(FINETUNE_STAGE).record()["checkpoints"]]
            return [c.step for c in find_checkpoints(self.cfg.finetune.checkpoints_from)]
        return self.cfg.finetune.checkpoints.resolve(self.cfg.finetune.train.steps)
