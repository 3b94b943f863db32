"""What the trajectory study checks before any compute (forgetscope.preflight): the base model and
its tokenizer, existing checkpoints against it, every data file and probe file, lm-eval task names."""

from __future__ import annotations

from functools import cache

from forgetscope import preflight
from forgetscope.preflight import Check
from forgetscope.studies.common_config import WORLD
from forgetscope.studies.trajectory.config import TrajectoryConfig
from forgetscope.tracking import check_trackers


def checks(cfg: TrajectoryConfig) -> list[Check]:
    out: list[Check] = []
    pretrained = cfg.base.kind == "pretrained"
    tokenizer = cache(lambda: cfg.base.load_tokenizer())
    if pretrained:
        out.append(Check("base", lambda: preflight.model(cfg.base)))
    ft = cfg.finetune
    if ft.checkpoints_from is not None:
        out.append(Check("finetune.checkpoints_from", lambda: preflight.checkpoints(ft.checkpoints_from, cfg.base)))
    elif ft.data != WORLD:
        out.append(Check("finetune.data", lambda: preflight.data(ft.data, "finetune", tokenizer if pretrained else None, loss=ft.loss, block=ft.train.max_length)))
    if cfg.restore.data not in (WORLD, None):
        out.append(Check("restore.data", lambda: preflight.data(cfg.restore.data, "text", tokenizer if pretrained else None, block=cfg.restore.train.max_length)))
    ev = cfg.eval
    if ev.probes != WORLD:
        out.append(Check("eval.probes", lambda: preflight.probes(ev.probes)))
    if ev.heldout_text not in (WORLD, None):
        out.append(Check("eval.heldout_text", lambda: preflight.data(ev.heldout_text, "text")))
    if ev.pattern_prompts not in (WORLD, None):
        out.append(Check("eval.pattern_prompts", lambda: preflight.data(ev.pattern_prompts, "pattern")))
    if ev.lm_eval_tasks:
        out.append(Check("eval.lm_eval_tasks", lambda: preflight.lm_eval_tasks(ev.lm_eval_tasks, ev.lm_eval_include_path)))
    if cfg.runtime.report_to:
        out.append(Check("runtime.report_to", lambda: check_trackers(cfg.runtime.report_to)))
    return out


def check(cfg: TrajectoryConfig) -> float:
    """Run every check; the seconds they took."""
    return preflight.run_checks(checks(cfg))
