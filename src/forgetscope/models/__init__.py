"""Model loading and saving: any local or hub causal LM (safetensors only), LoRA adapters, tiny models."""

from forgetscope.registry import lazy_members

_HOMES = {
    "load_model": "forgetscope.models.loading",
    "load_tokenizer": "forgetscope.models.loading",
    "save_model": "forgetscope.models.loading",
    "ModelSpec": "forgetscope.models.spec",
    "TinyModelConfig": "forgetscope.models.tiny",
    "build_tiny_model": "forgetscope.models.tiny",
}
__all__ = sorted(_HOMES)

__getattr__ = lazy_members(__name__, _HOMES)  # each name imported from its module on first use
