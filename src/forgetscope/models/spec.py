"""One model spec for every study: where a causal LM comes from and how to load it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from forgetscope.config import StrictModel
from forgetscope.models.checks import check_model_folder, is_local_path

if TYPE_CHECKING:
    import torch


class ModelSpec(StrictModel):
    """Any causal LM: a local folder (config.json + safetensors + tokenizer, or a PEFT adapter folder)
    or a hub id. `kind: pretrained` tells it apart from a study's synthetic base (`kind: tiny`)."""

    kind: Literal["pretrained"] = "pretrained"
    path: str = Field(..., description="local model folder or hub id")
    revision: str | None = Field(None, description="hub revision (branch, tag or commit)")
    dtype: Literal["fp32", "bf16", "fp16"] = Field("fp32", description="weights' dtype when loaded")
    trust_remote_code: bool = Field(False, description="run code shipped with the model (only if you trust it)")
    chat_template: str | None = Field(
        None, description="a Jinja chat template, or a file holding one; default: the tokenizer's own"
    )

    def check(self) -> None:
        """A one-line error, before any work, unless a local path is a model (or adapter) folder."""
        if is_local_path(self.path):
            check_model_folder(Path(self.path).expanduser())

    def load_tokenizer(self):
        from forgetscope.models.loading import load_tokenizer  # transformers: imported to load, not to read a config

        return load_tokenizer(self.path, revision=self.revision, trust_remote_code=self.trust_remote_code,
                              chat_template=self.chat_template)

    def load_model(self, device: str | torch.device = "cpu", *, path: str | Path | None = None, merge_adapter: bool = True,
                   revision: str | None = None):
        """This model, or a checkpoint of it (`path`: a model folder, a hub id with `revision`, or a
        PEFT adapter folder, which is put on this model whatever base its adapter_config names:
        finetune.checkpoints_from has checked it fits) loaded the same way."""
        from forgetscope.models.loading import apply_adapter, is_adapter_folder, load_model

        if path is not None and is_adapter_folder(path):
            return apply_adapter(self.load_model(device), path, merge=merge_adapter, device=device)
        source = self.path if path is None else str(path)
        if source == self.path and revision is None:
            revision = self.revision
        return load_model(source, revision=revision, dtype=self.dtype, device=device, trust_remote_code=self.trust_remote_code,
                          merge_adapter=merge_adapter)
