"""Tiny Llama models built from a config: the synthetic worlds' base models.

They are ordinary `LlamaForCausalLM` models saved as safetensors, so everything downstream takes the
same code path as a real model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, model_validator

from forgetscope.config import StrictModel

if TYPE_CHECKING:
    from transformers import LlamaForCausalLM, PreTrainedTokenizerBase


class TinyModelConfig(StrictModel):
    layers: int = Field(4, ge=1, le=256, description="transformer blocks")
    hidden: int = Field(128, ge=8, le=16_384, description="model width")
    heads: int = Field(4, ge=1, le=256, description="attention heads (width must divide by it)")
    mlp_ratio: int = Field(4, ge=1, le=16, description="MLP width = mlp_ratio x hidden")
    max_positions: int = Field(256, ge=16, le=131_072, description="longest sequence, in tokens")
    tie_embeddings: bool = Field(
        True, description="share the input embedding matrix and the output layer (as small real models do); false: two matrices"
    )

    @model_validator(mode="after")
    def _heads_divide(self) -> TinyModelConfig:
        if self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be divisible by heads ({self.heads})")
        return self


def build_tiny_model(cfg: TinyModelConfig, tokenizer: PreTrainedTokenizerBase, seed: int) -> LlamaForCausalLM:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden,
        intermediate_size=cfg.mlp_ratio * cfg.hidden,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        num_key_value_heads=cfg.heads,
        max_position_embeddings=cfg.max_positions,
        tie_word_embeddings=cfg.tie_embeddings,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    return model
