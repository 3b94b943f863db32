"""Model loading and saving: any local or hub causal LM (safetensors only), LoRA adapters, tiny models."""

_HOMES = {
    "load_model": "forgetscope.models.loading",
    "load_tokenizer": "forgetscope.models.loading",
    "save_model": "forgetscope.models.loading",
    "ModelSpec": "forgetscope.models.spec",
    "TinyModelConfig": "forgetscope.models.tiny",
    "build_tiny_model": "forgetscope.models.tiny",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    """The names above, each imported from its module on first use (PEP 562): importing this package
    for a config class does not import torch or transformers."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(_HOMES[name]), name)
