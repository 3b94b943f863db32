"""The training loop (through `accelerate`, so one process or many).

"Load from X, train N steps, save to Y" stays visible in the stage that calls this; the loop only
steps, keeps checkpoints on the requested steps and can start again from a saved one.

On an accelerator a step asks nothing of the host: losses, gradient norms and token counts stay on
the device and are read (one copy, `_Pending`) every `SYNC_EVERY` steps, before a checkpoint and at
the end; a host read in every step stalls the device's queue (benchmarks/README.md, MFU on the H200).
On the CPU the values are on the host already and are read every step.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from accelerate import Accelerator

from forgetscope import precision
from forgetscope.errors import NonFiniteError, UserError
from forgetscope.store import atomic_write_bytes
from forgetscope.training.batches import IGNORE
from forgetscope.training.config import TrainConfig

SYNC_EVERY = 16  # steps between host reads on an accelerator: how late a NaN can be found there

@dataclass
class TrainResult:
    start_step: int
    steps: int
    losses: list[float] = field(default_factory=list)
    tokens: int = 0
    seconds: float = 0.0
    processes: int = 1  # how many processes trained together (the data-parallel group)
    mixed_precision: str = "no"  # what `cfg.mixed_precision` resolved to

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


def lr_lambda(cfg: TrainConfig) -> Callable[[int], float]:
    def f(step: int) -> float:
        if cfg.warmup_steps and step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        if cfg.lr_schedule == "constant":
            return 1.0
        done = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
        if cfg.lr_schedule == "linear":
            return max(0.0, 1.0 - done)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, done)))

    return f


def wrap_lora(model, cfg: TrainConfig, seed: int):
    """Put a fresh LoRA adapter on `model` (peft); only the adapter trains."""
    from peft import LoraConfig, get_peft_model

    lc = cfg.lora
    torch.manual_seed(seed)
    return get_peft_model(
        model, LoraConfig(r=lc.r, lora_alpha=lc.alpha, lora_dropout=lc.dropout, target_modules=lc.target_modules, task_type="CAUSAL_LM")
    )


def freeze_embeddings(model) -> None:
    """No gradient for the token embedding matrix, nor for the output layer when it is tied to it (the
    same tensor); an untied output layer still trains."""
    model.get_input_embeddings().weight.requires_grad_(False)


def token_nll_sum(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed next-token NLL over the labelled positions, and how many there were (a tensor: counting
    them on the host would wait for the device)."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    labels = batch["labels"][:, 1:]
    logits = logits[:, :-1].float()
    nll = F.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=IGNORE, reduction="sum")
    return nll, (labels != IGNORE).sum()


def train(
    model,
    batches,
    cfg: TrainConfig,
    *,
    seed: int,
    save_steps: Sequence[int] = (),
    save: Callable[[object, int, dict], None] | None = None,
    resume: tuple[int, Path] | None = None,
    on_step: Callable[[int, torch.Tensor], None] | None = None,
    accelerator: Accelerator | None = None,
    loss_fn: Callable[[object, dict], tuple[torch.Tensor, int]] = token_nll_sum,
    local: bool = False,
    device: torch.device | str | None = None,
    sync_every: int | None = None,
) -> TrainResult:
    """Train `model` in place for `cfg.steps` optimizer steps on `batches`.

    `batches` gives `global_indices(step, batch_size)`, `collate(indices) -> dict of tensors` and
    `label_tokens(indices)` (how many terms the loss sums over), and may split a step itself
    (`apart(indices)`: groups never in one micro-batch, as ReplayBatches's sources): SFTBatches, LMBatches, or a study's own sampler.
    `loss_fn(model, batch) -> (summed loss, terms)` defaults to next-token NLL.
    `save(model, step, optimizer_state)` is called on the main process after each step in
    `save_steps`; `resume=(step, state_file)` continues a run from a step saved that way.
    The summed loss is divided by the global batch's term count, so the update is the same for any
    number of processes and micro-batches. `on_step(step, loss)` is called after every optimizer
    step with that step's mean loss as a 0-d float64 tensor on the device (`float(loss)` waits for
    the device: keep the tensors and read them together, as `train_with_checkpoints` does).

    A non-finite loss or gradient norm stops training (NonFiniteError naming the first such step).
    The values are read from the device every `sync_every` steps (default: every step on the CPU,
    `SYNC_EVERY` on an accelerator), before each saved checkpoint and after the last step: on an
    accelerator the error can come up to `sync_every - 1` optimizer steps late (the model in memory
    then holds NaN), but never after a checkpoint that a NaN reached is saved.

    Under a launcher the whole process group trains together (DDP, or FSDP/DeepSpeed as `accelerate
    launch` configures) and checkpoints are saved as full, loadable weights; `local=True` trains in
    this process alone on `device` (a restoration unit while the group's other processes do others).
    """
    target = device or ("cuda" if torch.cuda.is_available() else "cpu")
    mixed = precision.resolve(cfg.mixed_precision, target, model)  # `auto`: bf16 where it pays (precision.py)
    if accelerator is not None:
        acc = accelerator
    elif local:
        acc = _SingleProcess(target, mixed)
    else:
        acc = Accelerator(cpu=not torch.cuda.is_available(), mixed_precision=mixed)
    sharded = _is_sharded(acc)
    torch.manual_seed(seed)
    if cfg.freeze_embeddings:
        freeze_embeddings(model)
    params = [p for p in model.parameters() if p.requires_grad]
    # AdamW's default kernels: foreach on CUDA, one tensor at a time on the CPU. Measured on the CPU:
    # foreach gives the same bits and no clear speed-up; fused is ~7x faster on a 135M model's step but
    # moves the last bits (the tiny model's loss from step 2), so the CPU's documented numbers would change.
    opt = torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg))
    start = 0
    if resume is not None:
        start, state_file = resume
        state = torch.load(state_file, map_location="cpu", weights_only=True)
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
    model, opt = acc.prepare(model, opt)
    model.train()
    rank, world = acc.process_index, acc.num_processes
    result = TrainResult(start_step=start, steps=cfg.steps, processes=world, mixed_precision=mixed)
    save_at = set(save_steps)
    every = max(1, sync_every or (1 if acc.device.type == "cpu" else SYNC_EVERY))
    # fp16 loss scaling overflows on purpose now and then (the scaler skips that step): there only the loss is checked.
    pending = _Pending(acc.device, check_norm=getattr(acc, "scaler", None) is None)
    t0 = time.perf_counter()
    for step in range(start, cfg.steps):
        global_idx = batches.global_indices(step, cfg.batch_size)
        n_tokens = max(1, batches.label_tokens(global_idx))
        mine = global_idx[rank::world]
        micro = micro_batches(batches, mine, cfg.grad_accum)
        total = None
        for k, idx in enumerate(micro):
            batch = _to_device(batches.collate(idx), acc.device)
            sync = acc.no_sync(model) if (k < len(micro) - 1 and world > 1) else contextlib.nullcontext()
            with sync, acc.autocast():
                loss_sum, _ = loss_fn(model, batch)
                acc.backward(loss_sum * (world / n_tokens))
            # float64 on the device, added in order: the same number as the host's float sum was
            part = loss_sum.detach().double()
            total = part if total is None else total + part
            pending.add_tokens(batch)
        loss = _global_mean(acc, total, n_tokens)
        # With max_norm inf the "clipping" multiplies every gradient by exactly 1: the total norm, nothing changed.
        norm = acc.clip_grad_norm_(params, cfg.grad_clip if cfg.grad_clip is not None else math.inf)
        pending.add_step(step + 1, loss, norm)
        if (step + 1 - start) % every == 0 or step + 1 == cfg.steps or (step + 1) in save_at:
            pending.read_into(result)  # raises at a non-finite loss or norm, before this step's update
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if on_step is not None:
            on_step(step + 1, loss)
        if (step + 1) in save_at and save is not None:
            acc.wait_for_everyone()
            # Sharded weights are gathered by every process; the optimizer state of a sharded run is
            # not saved (it is per process), so such a run restarts an interrupted stage from step 0.
            extra = {"model_state": acc.get_state_dict(model)} if sharded else {}
            if acc.is_main_process:
                state = {} if sharded else {"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}
                save(acc.unwrap_model(model), step + 1, state, **extra)
            acc.wait_for_everyone()
    result.seconds = time.perf_counter() - t0
    model.eval()
    return result


def check_finite_step(step: int, loss: float, grad_norm: float | None) -> None:
    """Stop at the first non-finite loss or gradient (a NaN loss would otherwise train on, and every
    later checkpoint would hold NaN)."""
    if not math.isfinite(loss):
        raise NonFiniteError(f"non-finite training loss ({loss}) at step {step}: the learning rate may be too high")
    if grad_norm is not None and not math.isfinite(grad_norm):
        raise NonFiniteError(f"non-finite gradient (norm {grad_norm}) at step {step}: the learning rate may be too high")


class _Pending:
    """Per-step losses, gradient norms and token counts kept on the device since the last read; `read_into`
    copies them to the host at once (one synchronisation), checks them step by step and appends the
    losses to the result."""

    def __init__(self, device: torch.device, check_norm: bool):
        self.device, self.check_norm = device, check_norm
        self.steps: list[int] = []
        self.values: list[torch.Tensor] = []  # loss, then the norm where checked, per step
        self.tokens: torch.Tensor | int = 0

    def add_tokens(self, batch: dict[str, torch.Tensor]) -> None:
        self.tokens = self.tokens + _batch_tokens(batch)

    def add_step(self, step: int, loss: torch.Tensor, norm: torch.Tensor) -> None:
        self.steps.append(step)
        self.values.append(loss.reshape(()))
        if self.check_norm:
            norm = torch.zeros(()) if norm is None else norm  # a backend that clips by itself returns none
            self.values.append(torch.as_tensor(norm, device=self.device).reshape(()).double())

    def read_into(self, result: TrainResult) -> None:
        if not self.steps:
            return
        tokens = torch.as_tensor(self.tokens, device=self.device).double().reshape(1)
        host = torch.cat([torch.stack(self.values), tokens]).tolist()  # float64: token counts < 2**53 are exact
        per = 2 if self.check_norm else 1
        for i, step in enumerate(self.steps):
            loss = host[i * per]
            check_finite_step(step, loss, host[i * per + 1] if self.check_norm else None)
            result.losses.append(loss)
        result.tokens += int(host[-1])
        self.steps, self.values, self.tokens = [], [], 0


def _is_sharded(acc) -> bool:
    from accelerate.utils import DistributedType

    return getattr(acc, "distributed_type", None) in (DistributedType.FSDP, DistributedType.DEEPSPEED)


class _SingleProcess:
    """The part of `Accelerator` that `train` uses, for training in this process alone even inside a
    launched group (an Accelerator there would join the group's collectives)."""

    process_index, num_processes, is_main_process = 0, 1, True

    def __init__(self, device: torch.device | str, mixed_precision: str):
        if mixed_precision == "fp16":
            raise UserError("mixed_precision fp16 is not supported for training inside one process of a launched group; use bf16")
        self.device = torch.device(device)
        self.dtype = torch.bfloat16 if mixed_precision == "bf16" else None

    def prepare(self, model, opt):
        return model.to(self.device), opt

    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.dtype) if self.dtype else contextlib.nullcontext()

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def clip_grad_norm_(self, params, max_norm: float) -> torch.Tensor:
        return torch.nn.utils.clip_grad_norm_(params, max_norm)

    def no_sync(self, model):
        return contextlib.nullcontext()

    def wait_for_everyone(self) -> None:
        pass

    def unwrap_model(self, model):
        return model

    def reduce(self, t: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
        return t


def micro_batches(batches, indices: list[int], parts: int) -> list[list[int]]:
    """This process's share of a step in `parts` interleaved micro-batches, none empty (the last one
    syncs the gradients under a launcher); for a sampler with `apart(indices)`, `parts` of each group
    it keeps apart (ReplayBatches: each source)."""
    groups = batches.apart(indices) if hasattr(batches, "apart") else [indices]
    return [part for g in groups for part in (g[i::parts] for i in range(parts)) if part]


def _to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """The collated (CPU) batch on the device; to a GPU from pinned memory without waiting for the copy."""
    if device.type == "cuda":
        return {k: v.pin_memory().to(device, non_blocking=True) for k, v in batch.items()}
    return {k: v.to(device) for k, v in batch.items()}


def _batch_tokens(batch: dict[str, torch.Tensor]) -> torch.Tensor | int:
    if "attention_mask" in batch:
        return batch["attention_mask"].sum()
    first = next(iter(batch.values()))
    return int(first.shape[0] * (first.shape[1] if first.dim() > 1 else 1))


def _global_mean(acc: Accelerator, local_sum: torch.Tensor | None, n_tokens: int) -> torch.Tensor:
    """The step's mean loss (0-d float64, on the device): the group's float32 sum, as it always was."""
    if local_sum is None:  # this process had no examples this step
        local_sum = torch.zeros((), dtype=torch.float64, device=acc.device)
    if acc.num_processes > 1:
        local_sum = acc.reduce(local_sum.float().reshape(1), reduction="sum").double().reshape(())
    # divided by a device tensor: IEEE division, as the host's (a CUDA kernel multiplies by 1/n for a host number)
    return local_sum / torch.full((), n_tokens, dtype=torch.float64, device=local_sum.device)


def save_train_state(path: Path, state: dict) -> None:
    """Optimizer and scheduler state next to a checkpoint, written atomically (tensors only, loadable
    with `weights_only=True`)."""
    import io

    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())
