"""Load and save causal LMs. Weights come from safetensors only (never pickles); remote code runs only
when the user asks for it; a folder that is not a model is a one-line error."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from forgetscope.errors import UserError
from forgetscope.models.checks import (
    adapter_base,
    check_adapter_weights,
    check_finite_weights,
    check_model_folder,
    check_tokenizer_files,
    is_local_path,
)
from forgetscope.store import atomic_dir

__all__ = ["check_model_folder", "is_local_path", "load_model", "load_tokenizer", "save_model"]

Dtype = Literal["fp32", "bf16", "fp16", "auto"]
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def load_tokenizer(source: str | Path, *, revision: str | None = None, trust_remote_code: bool = False,
                   chat_template: str | None = None) -> PreTrainedTokenizerBase:
    """The tokenizer of a model folder or hub id; `chat_template` (a Jinja template, or a file holding
    one) replaces the tokenizer's own, for models that ship none or the wrong one."""
    source = str(source)
    if is_local_path(source):
        check_tokenizer_files(Path(source).expanduser())
    try:
        tok = AutoTokenizer.from_pretrained(source, revision=revision, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:
        raise UserError(f"{source}: could not load the tokenizer: {str(e).splitlines()[0]}") from None
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    if chat_template is not None:
        tok.chat_template = _read_template(chat_template)
    return tok


def _read_template(value: str) -> str:
    if "{" in value:  # a template itself
        return value
    path = Path(value).expanduser()
    if not path.is_file():
        raise UserError(f"{value}: chat_template is neither a Jinja template nor a file")
    return path.read_text()


def same_tokenizer(a: PreTrainedTokenizerBase, b: PreTrainedTokenizerBase) -> bool:
    """Whether `a` and `b` map text to the same ids: the same vocabulary and special tokens."""
    return a.get_vocab() == b.get_vocab() and a.all_special_ids == b.all_special_ids


def check_same_tokenizer(a: PreTrainedTokenizerBase, b: PreTrainedTokenizerBase, what: str) -> None:
    """Raise a one-line UserError unless `a` and `b` map text to the same ids (a metric comparing two
    models token by token, such as the pattern shift's KL, needs that)."""
    if not same_tokenizer(a, b):
        raise UserError(f"{what}: the two models' tokenizers differ; this metric compares them token by token and needs one tokenizer")


def load_model(
    source: str | Path,
    *,
    revision: str | None = None,
    dtype: Dtype = "fp32",
    device: str | torch.device = "cpu",
    trust_remote_code: bool = False,
    merge_adapter: bool = True,
) -> PreTrainedModel:
    """Load a causal LM from a local folder or a hub id. An adapter folder loads its base, then the
    adapter (merged into the weights by default, so downstream code sees a plain model)."""
    source = str(source)
    torch_dtype = DTYPES.get(dtype, "auto")
    if is_local_path(source):
        path = Path(source).expanduser()
        check_model_folder(path)
        if (path / "adapter_config.json").exists():
            return _load_adapter(path, dtype, device, trust_remote_code, merge_adapter)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            source, revision=revision, dtype=torch_dtype, use_safetensors=True, trust_remote_code=trust_remote_code
        )
    except (OSError, ValueError) as e:
        raise UserError(f"{source}: could not load the model: {str(e).splitlines()[0]}") from None
    check_finite_weights(model, source)
    return model.to(device).eval()


def _load_adapter(path: Path, dtype: Dtype, device, trust_remote_code: bool, merge: bool) -> PreTrainedModel:
    base_ref = adapter_base(path)  # check_model_folder refused an adapter on an adapter (or on itself)
    base = load_model(base_ref, dtype=dtype, device=device, trust_remote_code=trust_remote_code)
    return apply_adapter(base, path, merge=merge, device=device)


def is_adapter_folder(source: str | Path) -> bool:
    return is_local_path(str(source)) and (Path(source).expanduser() / "adapter_config.json").exists()


def apply_adapter(base: PreTrainedModel, folder: str | Path, *, merge: bool = True, device="cpu") -> PreTrainedModel:
    """`base` with the PEFT adapter of `folder` on it (adapter_model.safetensors: no pickle beside it,
    checked by check_model_folder): merged into the weights (a plain, trainable model) or kept as a PeftModel."""
    from peft import PeftModel

    check_adapter_weights(Path(folder).expanduser())
    model = PeftModel.from_pretrained(base, str(folder))
    check_finite_weights(model, folder)
    if not merge:
        return model.to(device).eval()
    merged = model.merge_and_unload()
    for p in merged.parameters():  # peft froze the base weights; merged, it is a plain model again
        p.requires_grad_(True)
    return merged.to(device).eval()


def save_model(model, tokenizer: PreTrainedTokenizerBase | None, folder: str | Path, *, replace: bool = False,
               state_dict: dict | None = None) -> Path:
    """Save weights (safetensors) and tokenizer into `folder`, atomically; `state_dict` is the full
    state gathered from a sharded (FSDP/DeepSpeed) model."""
    with atomic_dir(folder, replace=replace) as tmp:
        model.save_pretrained(tmp, safe_serialization=True, state_dict=state_dict)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
    return Path(folder)


def model_config(source: str | Path, *, revision: str | None = None, trust_remote_code: bool = False):
    return AutoConfig.from_pretrained(str(source), revision=revision, trust_remote_code=trust_remote_code)


def load_weights_into(model, folder: str | Path) -> None:
    """Put the weights saved in `folder` (a full checkpoint, or a PEFT adapter of `model`) into
    `model`, in place; a checkpoint of another architecture is an error."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if (folder / "adapter_config.json").exists():
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model, load_file(str(folder / "adapter_model.safetensors")))
        return
    state = {}
    for f in sorted(folder.glob("*.safetensors")):
        state.update(load_file(str(f)))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [m for m in missing if not m.endswith("lm_head.weight")]:
        raise RuntimeError(f"{folder}: checkpoint does not match the model ({missing[:3]}, {unexpected[:3]})")
    check_finite_weights(model, folder)
