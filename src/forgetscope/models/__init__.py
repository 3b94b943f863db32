"""Model loading and saving: any local or hub causal LM (safetensors only), LoRA adapters, tiny models."""

from forgetscope.models.loading import load_model, load_tokenizer, save_model
from forgetscope.models.spec import ModelSpec
from forgetscope.models.tiny import TinyModelConfig, build_tiny_model

__all__ = ["ModelSpec", "TinyModelConfig", "build_tiny_model", "load_model", "load_tokenizer", "save_model"]
