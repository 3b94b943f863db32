"""Stage 3: fine-tune the base (SFT on chats or prompt/completion rows; LM training on text rows),
keeping checkpoints on the schedule. With `finetune.checkpoints_from` nothing is trained: the stage
records the checkpoints it found (step, path, revision, adapter or not) and the later stages probe
and restore those, as they would their own.

An interrupted fine-tuning run starts again from its last checkpoint (training.checkpointed): the
optimizer state is saved beside it and batches are a function of the step, so the result equals an
uninterrupted run. Under a launcher the whole process group trains together; the main process writes.
"""

from __future__ import annotations

import copy
from pathlib import Path

from safetensors.torch import load_file

from forgetscope.data import detect_format, lm_texts, sft_segments
from forgetscope.errors import UserError
from forgetscope.models import save_model
from forgetscope.models.checkpoints_from import check_against_base, find_checkpoints
from forgetscope.models.loading import load_weights_into
from forgetscope.store import atomic_write_bytes
from forgetscope.studies.stages import run_stage
from forgetscope.studies.trajectory.context import SeedContext
from forgetscope.training import LMBatches, SFTBatches
from forgetscope.training.checkpointed import train_with_checkpoints
from forgetscope.training.loop import wrap_lora
from forgetscope.views import FINETUNE_STAGE

ADAPTER_SIDECAR = ".adapter.safetensors"  # beside a merged LoRA checkpoint: the adapter, to resume from


def finetune(ctx: SeedContext) -> None:
    stage = ctx.stage(FINETUNE_STAGE)
    if ctx.cfg.finetune.checkpoints_from is not None:
        run_stage(stage, lambda _: _record_checkpoints(ctx), fresh=True)
        return
    run_stage(stage, lambda _: _finetune(ctx, stage.path), together=True)


def _record_checkpoints(ctx: SeedContext) -> dict:
    found = find_checkpoints(ctx.cfg.finetune.checkpoints_from)
    check_against_base(found, ctx.cfg.base)  # also done before the run starts (preflight); the folder may have changed
    return {"checkpoints": [c.step for c in found], "sources": [c.record() for c in found], "trained": False}


def finetune_batches(ctx: SeedContext):
    """SFT batches (prompt masked as `finetune.loss` says), or packed LM blocks for `text` rows."""
    cfg = ctx.cfg.finetune
    tok = ctx.tokenizer
    rows, label = ctx.rows(cfg.data, "ift.jsonl"), ctx.label(cfg.data, "ift.jsonl")
    try:
        if detect_format(rows, label) == "text":
            return LMBatches(lm_texts(rows, label), tok, cfg.train.max_length, seed=ctx.seed)
        return SFTBatches(sft_segments(rows, tok, label, cfg.loss), tok, cfg.train.max_length, seed=ctx.seed)
    except ValueError as e:
        raise UserError(f"finetune.data: {label}: {e}") from None


def _finetune(ctx: SeedContext, folder: Path) -> dict:
    cfg = ctx.cfg.finetune
    lora = cfg.train.lora
    tok = ctx.tokenizer
    batches = finetune_batches(ctx)

    def start_model(checkpoint: Path | None):
        model = ctx.load(ctx.base_path)
        if lora is not None:
            model = wrap_lora(model, cfg.train, ctx.seed)
        if checkpoint is not None:
            sidecar = checkpoint.with_name(checkpoint.name + ADAPTER_SIDECAR)
            if lora is not None and lora.save == "merged":
                from peft import set_peft_model_state_dict

                set_peft_model_state_dict(model, load_file(str(sidecar)))
            else:
                load_weights_into(model, checkpoint)
        return model

    def save_checkpoint(m, target: Path, full_state: dict | None) -> None:
        if lora is not None and lora.save == "adapter":
            base = Path(ctx.base_path)
            m.peft_config["default"].base_model_name_or_path = str(base.resolve()) if base.exists() else ctx.base_path
            save_model(m, tok, target, replace=True, state_dict=full_state)
        elif lora is not None:
            from peft import get_peft_model_state_dict
            from safetensors.torch import save

            save_model(copy.deepcopy(m).merge_and_unload(), tok, target, replace=True)
            adapter = {k: v.detach().contiguous() for k, v in get_peft_model_state_dict(m).items()}
            atomic_write_bytes(target.with_name(target.name + ADAPTER_SIDECAR), save(adapter))
        else:
            save_model(m, tok, target, replace=True, state_dict=full_state)

    result, resumed = train_with_checkpoints(folder, start_model, batches, cfg.train, ctx.steps, seed=ctx.seed,
                                             save_checkpoint=save_checkpoint, reporter=ctx.reporter)
    return {"checkpoints": ctx.steps, "seconds": result.seconds, "tokens_per_second": result.tokens_per_second,
            "resumed_from": resumed, "processes": result.processes}
