"""Restoration by LM training: the same budget for every checkpoint and for the base (the control)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from forgetscope.training import LMBatches, TrainConfig, TrainResult, train


def restore_by_lm_training(
    model, tokenizer, texts: Sequence[str], cfg: TrainConfig, *, seed: int,
    on_step: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train `model` in place on `texts` for `cfg.steps` steps. The batch order depends only on the
    seed, so every checkpoint sees exactly the same restoration data."""
    batches = LMBatches(texts, tokenizer, cfg.max_length, seed=seed)
    return train(model, batches, cfg, seed=seed, on_step=on_step)
