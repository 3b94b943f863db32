"""The restorer protocol: a way to bring a fine-tuned checkpoint back toward pre-training behaviour,
after which it is probed again. Restorers are plug-ins (RESTORERS), configured as a list of specs
(`restore.restorers: [lm_training, {name: interpolation, ratio: 0.5}]`); each writes its results
under its own condition label, and nothing parses a label back into parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import Field, ValidationError, model_validator

from forgetscope.config import PluginSpec, StrictModel
from forgetscope.errors import UserError
from forgetscope.registry import Entry, Registry
from forgetscope.training import TrainConfig


@dataclass
class RestoreJob:
    """What a restorer may use, besides the model it restores."""

    tokenizer: Any
    texts: Callable[[], Sequence[str]]  # the restoration text, read on first use
    train: TrainConfig  # the study's restoration budget (the same for every checkpoint and the base)
    base_path: str  # the base model's folder (weights to move toward)
    seed: int
    # scores the curve probes part of the way through a restoration: curve(model, fraction, step)
    curve: Callable[[Any, float, int], None] | None = None


class Restorer:
    """One restorer. Subclasses set `name`, `Options` (their config options) and override
    `condition`, `describe` and `restore`.

    `restores_base`: whether the base is restored too, as the control. False declares that restoring
    the base would leave it as it is (interpolating the base toward itself): no unit runs for it and
    the analysis takes the base's own scores as its restored base.
    """

    name: ClassVar[str] = ""
    restores_base: ClassVar[bool] = True
    budget: float = 1.0  # restorers of one name with a larger budget check that this one has run its course
    continues: bool = False  # goes on from the budget-1 restorer of its name (continue_restoration), in its unit

    def continue_restoration(self, model, job: RestoreJob):
        """Restore further a model that the budget-1 restorer of this name has just restored."""
        raise NotImplementedError(f"the {self.name} restorer cannot continue another run")

    class Options(StrictModel):
        pass

    def __init__(self, options: StrictModel):
        self.options = options

    @property
    def condition(self) -> str:
        """The condition label of this restorer's rows in the result tables."""
        raise NotImplementedError

    @property
    def title(self) -> str:
        """A short label for plots and tables."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def restore(self, model, job: RestoreJob):
        """Restore `model` (in place or not); return the restored model."""
        raise NotImplementedError


RESTORERS = Registry("restorer", [
    Entry("lm_training", "forgetscope.restoration.lm_training:LMTrainingRestorer",
          "brief LM training on pre-training-like text without the probed facts (Zhang et al.)"),
    Entry("interpolation", "forgetscope.restoration.interpolation:InterpolationRestorer",
          "training-free: move the weights part of the way back to the base (Lin et al.)"),
])


class RestorerSpec(PluginSpec):
    """A restorer by name, with its options: `lm_training`, or `{name: interpolation, ratio: 0.5}`."""

    name: str = Field(..., description=" | ".join(RESTORERS.names()))
    options: dict[str, Any] = Field(default_factory=dict, description="the restorer's options")

    @model_validator(mode="after")
    def _valid(self) -> RestorerSpec:
        self.build()
        return self

    def build(self) -> Restorer:
        try:
            cls = RESTORERS.get(self.name)
        except UserError as e:
            raise ValueError(str(e)) from None
        try:
            return cls(cls.Options.model_validate(self.options))
        except ValidationError as e:
            err = e.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "options"
            raise ValueError(f"restorer {self.name!r}: {where}: {err['msg']}") from None


def build_restorers(specs: Sequence[RestorerSpec]) -> list[Restorer]:
    return [s.build() for s in specs]
