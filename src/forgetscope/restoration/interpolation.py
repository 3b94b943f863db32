"""Weight interpolation toward the base: theta = (1 - ratio) * theta_checkpoint + ratio * theta_base.

The base weights are streamed tensor by tensor from its safetensors files, so only one full model
is ever in memory.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from forgetscope.config import StrictModel
from forgetscope.errors import UserError
from forgetscope.restoration.base import RestoreJob, Restorer


def interpolate_toward_base(model, base_folder: str | Path, ratio: float) -> None:
    import torch  # here, not at the top: a config names this restorer without loading torch
    from safetensors import safe_open

    with torch.no_grad():
        if not 0.0 <= ratio <= 1.0:
            raise UserError(f"interpolation ratio must be in [0, 1], got {ratio}")
        files = sorted(Path(base_folder).glob("*.safetensors"))
        if not files:
            raise UserError(f"{base_folder}: no safetensors weights to interpolate toward")
        params = dict(model.named_parameters())
        seen: set[str] = set()
        for f in files:
            with safe_open(str(f), framework="pt") as st:
                for name in st.keys():  # noqa: SIM118 - safe_open has no __iter__
                    if name in params:
                        p = params[name]
                        p.lerp_(st.get_tensor(name).to(p.device, p.dtype), ratio)
                        seen.add(name)
        missing = [n for n in params if n not in seen and not _tied(model, n)]
        if missing:
            raise UserError(f"{base_folder}: base lacks weights {missing[:3]}... (different architecture?)")


def _tied(model, name: str) -> bool:
    """A tied output embedding is saved once, under the input embedding's name."""
    return bool(getattr(model.config, "tie_word_embeddings", False)) and name.endswith("lm_head.weight")


class InterpolationRestorer(Restorer):
    """Condition `interp-<ratio>`: theta = (1 - ratio) theta_checkpoint + ratio theta_base."""

    name = "interpolation"
    restores_base = False  # the base interpolated toward itself is the base

    class Options(StrictModel):
        ratio: float = Field(..., ge=0, le=1, description="how far toward the base (0 = the checkpoint, 1 = the base)")

    @property
    def condition(self) -> str:
        return f"interp-{self.options.ratio:.2f}"

    @property
    def title(self) -> str:
        return f"interpolated toward base ({self.options.ratio:.2f})"

    def describe(self) -> str:
        return f"weight interpolation toward the base, ratio {self.options.ratio:.2f} (0 = checkpoint, 1 = base)"

    def restore(self, model, job: RestoreJob):
        interpolate_toward_base(model, job.base_path, self.options.ratio)
        return model
