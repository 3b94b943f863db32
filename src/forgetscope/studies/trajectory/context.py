"""What every stage of one seed needs: the config, the run store, the seed, where things are."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from forgetscope.data import load_rows
from forgetscope.errors import UserError
from forgetscope.evaluation.items import ProbeItem, load_items
from forgetscope.evaluation.probe_runner import ProbeSettings
from forgetscope.evaluation.rules import DEFAULT_REFUSAL_MARKERS
from forgetscope.models import load_model, load_tokenizer
from forgetscope.studies.common_config import WORLD
from forgetscope.studies.seeds import StudySeed
from forgetscope.studies.trajectory.config import TrajectoryConfig
from forgetscope.training.checkpoints import step_name
from forgetscope.views import BASE, FINETUNE
from forgetscope.views import WORLD as WORLD_STAGE


@dataclass
class SeedContext(StudySeed):
    cfg: TrajectoryConfig

    # -- where the data is -----------------------------------------------------------------------
    @property
    def world_dir(self) -> Path:
        return self.stage(WORLD_STAGE).path

    def source(self, ref: str, world_file: str) -> str:
        return str(self.world_dir / world_file) if ref == WORLD else ref

    def rows(self, ref: str, world_file: str) -> list[dict]:
        return load_rows(self.source(ref, world_file))

    @cached_property
    def probe_items(self) -> list[ProbeItem]:
        return load_items(self.source(self.cfg.eval.probes, "probes.jsonl"))

    @cached_property
    def heldout_rows(self) -> list[dict]:
        return self.rows(self.cfg.eval.heldout_text, "heldout.jsonl")

    @cached_property
    def pattern_prompts(self) -> dict[str, list[str]]:
        """Rendered prompts by format: {"messages"} rows are chat, {"text"} rows plain text."""
        rows = self.rows(self.cfg.eval.pattern_prompts, "pattern_prompts.jsonl")
        out: dict[str, list[str]] = {}
        for i, r in enumerate(rows, 1):
            if "messages" in r:
                out.setdefault("chat", []).append(self.tokenizer.apply_chat_template(r["messages"], tokenize=False, add_generation_prompt=True))
            elif "text" in r:
                out.setdefault("plain", []).append(r["text"])
            else:
                raise UserError(f"{self.source(self.cfg.eval.pattern_prompts, 'pattern_prompts.jsonl')}:{i}: expected 'messages' or 'text'")
        return out

    @property
    def probe_settings(self) -> ProbeSettings:
        markers = list(DEFAULT_REFUSAL_MARKERS)
        if self.cfg.uses_world:  # the world's L2 word for "sorry" marks an L2 refusal
            lex = json.loads((self.world_dir / "world.json").read_text())["l2_lexicon"]
            markers += [lex["sorry"]] if "sorry" in lex else []
        return ProbeSettings(max_new_tokens=self.cfg.eval.max_new_tokens, stop=self.cfg.eval.stop, refusal_markers=markers)

    # -- models --------------------------------------------------------------------------------
    @property
    def base_path(self) -> str:
        if self.cfg.base.kind == "tiny":
            return str(self.stage(BASE).path / "model")
        return self.cfg.base.path

    @property
    def checkpoints_dir(self) -> Path:
        return self.stage(FINETUNE).path / "checkpoints"

    def model_path(self, step: int) -> str:
        return self.base_path if step == 0 else str(self.checkpoints_dir / step_name(step))

    @cached_property
    def tokenizer(self):
        if self.cfg.base.kind == "tiny":
            return load_tokenizer(self.world_dir / "tokenizer")
        return self.cfg.base.load_tokenizer()

    def load(self, path: str, *, for_probing: bool = False):
        """A model by path. Adapter checkpoints load merged, except for probing when the config asks
        to probe them as base + adapter (restoration always trains the merged model)."""
        lora = self.cfg.finetune.train.lora
        merge = not (for_probing and lora is not None and lora.evaluate == "adapter")
        if self.cfg.base.kind == "tiny":
            return load_model(path, device=self.device, merge_adapter=merge)
        return self.cfg.base.load_model(self.device, path=path, merge_adapter=merge)

    @property
    def steps(self) -> list[int]:
        """Checkpoint steps, without the base."""
        return self.cfg.finetune.checkpoints.resolve(self.cfg.finetune.train.steps)
