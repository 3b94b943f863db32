"""The fact world's conjugate suite: ICL-vs-instruction-following episodes and private-attribute
requests about evaluation people (forgetscope.world.probes: icl_l1, private_l1), in L1 (identity)
and in L2 (the world_l2 transform of the same items), on the trajectory study's models.

The world and the models come from a trajectory run folder (its base and checkpoints, read through
forgetscope.views.TrajectoryRun), so nothing is trained twice; when the folder holds no run yet, the
conjugate study runs the trajectory study there first (`build`: a trajectory config), and an
unfinished run there is resumed.

Tasks and scores: `icl` is correct when the reply starts with the pattern-following answer
(starts_with); `private` scores 1 when the reply answers (is not a refusal), so "drop" is the rise
in refusals; the refusal rate and whether the true value leaked are kept beside it.

Both diagnostics count an answer in either language of the world (a model asked in L2 may answer in
L1): `followed_instruction` when the reply starts with the query's answer in L1 or in L2, `leaked`
when the reply names the private value in L1 or in L2 (meta `if_answer_alternatives`,
`answer_alternatives`; evaluation/probe_runner.py). The ICL score counts the pattern-following answer
in the prompt's language only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator

from forgetscope.config import StrictModel
from forgetscope.errors import UserError
from forgetscope.evaluation.items import ProbeItem, load_items
from forgetscope.evaluation.probe_runner import ProbeSettings
from forgetscope.evaluation.rules import DEFAULT_REFUSAL_MARKERS
from forgetscope.suites.base import Suite, TransformSpec
from forgetscope.transforms.base import Transform
from forgetscope.world.build import read_l2_lexicon
from forgetscope.world.probes import other_forms

TASK_OF_PROBE = {"icl_l1": "icl", "private_l1": "private"}
ALLOWED = ("identity", "world_l2")


class FactWorldConfig(StrictModel):
    """The fact-world suite (docs/conjugate.md)."""

    moved: ClassVar[dict[str, str]] = {"seeds": "seeds (at the top of the conjugate config)"}

    run: str = Field(..., description="a trajectory run folder; '{run_dir}' stands for this conjugate run's folder")
    build: str | None = Field(None, description="a trajectory config (YAML): when `run` holds no run yet, the trajectory study runs there first")
    checkpoints: list[Annotated[int, Field(ge=1, le=10_000_000)] | Literal["final", "all"]] = Field(
        ["final"], min_length=1, max_length=10_000,
        description="fine-tuning steps to compare with the base: 'final' (the last), 'all', or step numbers of the run's schedule",
    )
    transforms: list[TransformSpec] = Field(
        default_factory=lambda: [TransformSpec(name="identity"), TransformSpec(name="world_l2")],
        description="identity (L1) and world_l2 (L2); the world's word-level models know no other form",
    )
    max_new_tokens: int = Field(10, ge=1, le=4096, description="greedy generation budget")

    @field_validator("transforms")
    @classmethod
    def _world_transforms(cls, v: list[TransformSpec]) -> list[TransformSpec]:
        for t in v:
            if t.name not in ALLOWED:
                raise ValueError(f"transform {t.name!r} cannot be read by the fact world's word-level models (use {' or '.join(ALLOWED)})")
        return v

    def run_path(self, run_dir: str | Path) -> Path:
        """`run` with `{run_dir}` filled in, normalised as text ("<run>/../trajectory" must not need
        this run's folder to exist yet)."""
        return Path(os.path.normpath(Path(self.run.replace("{run_dir}", str(run_dir))).expanduser()))


class FactWorldSuite(Suite):
    name = "fact_world"
    tasks = ("icl", "private")

    def __init__(self, cfg: FactWorldConfig, world_dir: Path):
        self.cfg = cfg
        self.world_dir = Path(world_dir)
        probes = self.world_dir / "probes.jsonl"
        if not probes.exists():
            raise UserError(f"{self.world_dir}: no probes.jsonl (not a fact-world folder)")
        self.source = [it for it in load_items(probes) if it.probe in TASK_OF_PROBE]
        if not self.source:
            raise UserError(f"{probes}: no icl_l1 or private_l1 items")
        self.l2 = read_l2_lexicon(self.world_dir, required=False)  # None: a one-language world

    def _forms(self, render, l1: str) -> tuple[str, list[str]]:
        """(`l1` as the transform renders it, its forms in the world's other languages: the L1 text
        and its L2 translation, less the rendered one), by world.probes.other_forms, which also
        wrote the world's own probe items."""
        primary = render(l1)
        return primary, other_forms(l1, primary, self.l2)

    def build(self, spec: TransformSpec) -> Transform:
        return spec.build(world=str(self.world_dir)) if spec.name == "world_l2" and not spec.options else spec.build()

    def items(self, transform: Transform) -> list[ProbeItem]:
        out = []
        for it in self.source:
            task = TASK_OF_PROBE[it.probe]
            key = f"{task}/{it.id.split('/', 1)[1]}"
            meta = {("pattern" if k == "task" else k): v for k, v in it.meta.items() if k != "language"}
            if "if_answer" in meta:
                meta["if_answer"], meta["if_answer_alternatives"] = self._forms(transform.apply, str(meta["if_answer"]))
            answer = None
            if it.answer is not None:
                answer, alternatives = self._forms(transform.expected, str(it.answer))
                if it.kind == "refusal":
                    meta["answer_alternatives"] = alternatives
            out.append(self.item(transform, key, kind=it.kind, format=it.format, prompt=transform.apply(it.prompt),
                                 answer=answer, match_words=it.match_words, meta=meta))
        return out

    def settings(self, transform: Transform) -> ProbeSettings:
        markers = list(dict.fromkeys([*DEFAULT_REFUSAL_MARKERS, *transform.apply_many(list(DEFAULT_REFUSAL_MARKERS))]))
        return ProbeSettings(max_new_tokens=self.cfg.max_new_tokens, stop=["\n"], refusal_markers=markers)
