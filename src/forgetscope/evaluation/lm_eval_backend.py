"""Optional lm-evaluation-harness backend: our probe items as lm-eval tasks, plus any lm-eval task by name.

    pip install 'forgetscope[lmeval]'

`probe_task_configs` turns probe items into lm-eval task configs (plain dicts, one task per probe),
with the metric their kind names (evaluation/kinds.py):
    choice -> output_type multiple_choice, metric acc (unnormalised log-likelihood argmax, as ours);
    exact  -> output_type generate_until (greedy, `until` = our stop strings, `max_gen_toks` = our
              max_new_tokens), metric exact_match with options that mirror rules.exact_match.
Chat-format items are rendered with the tokenizer's chat template *before* lm-eval sees them (lm-eval's
own `apply_chat_template` stays off), so both backends score the same string.
`evaluate_with_lm_eval` runs lm-eval's HFLM on those tasks (and on `extra_tasks`, lm-eval's own task
names, which need their datasets) and maps lm-eval's per-sample log back to our tidy rows. See
docs/lm-eval.md for what maps to what and the differences that remain.
"""

from __future__ import annotations

import json
import logging
import random
import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from forgetscope.errors import UserError
from forgetscope.evaluation import rules
from forgetscope.evaluation.items import ProbeItem
from forgetscope.evaluation.kinds import KINDS, LM_EVAL_KINDS
from forgetscope.evaluation.lm_eval_tasks import LmEvalTask, check_lm_eval_tasks, manager_for, require_lm_eval, task_manager
from forgetscope.evaluation.probe_runner import ProbeSettings, render_prompt

TASK_PREFIX = "forgetscope_"

# rules.exact_match compares lower-cased texts with whitespace runs collapsed to one space and leading /
# trailing punctuation and whitespace removed. lm-eval's exact_match can only *delete* regex matches
# (then lower-case); these three deletions give the same verdict except for a whitespace run inside the
# text that starts with a character other than a plain space (a tab, a no-break space): see docs/lm-eval.md.
_EDGE = "[\\s" + re.escape(rules._PUNCT) + "]+"
EXACT_MATCH_REGEXES = [r"\A" + _EDGE, _EDGE + r"\Z", r"(?<=\s)\s+"]
EXACT_MATCH_OPTIONS = {"ignore_case": True, "ignore_punctuation": False, "regexes_to_ignore": EXACT_MATCH_REGEXES}
METRIC_OPTIONS = {"exact_match": EXACT_MATCH_OPTIONS}  # a generated kind's metric -> its options in metric_list


# -- items -> task configs --------------------------------------------------------------------------
class InMemoryDocs:
    """lm-eval's `custom_dataset` hook: called with the task's metadata, returns {"test": Dataset}."""

    def __init__(self, docs: list[dict]):
        self.docs = docs

    def __call__(self, **_metadata) -> Any:
        import datasets

        return datasets.DatasetDict({"test": datasets.Dataset.from_list(self.docs)})

    def __repr__(self) -> str:
        return f"<forgetscope probe items: {len(self.docs)} docs>"


def _doc(item: ProbeItem, tokenizer) -> dict:
    if item.format == "chat" and tokenizer is None:
        raise UserError(f"item {item.id!r}: a chat-format item needs the tokenizer (its chat template)")
    doc = {"id": item.id, "prompt": render_prompt(item, tokenizer)}
    if not KINDS[item.kind].generated:
        doc["choices"] = list(item.choices or [])
    doc["answer"] = item.answer
    return doc


def _task_config(name: str, kind: str, settings: ProbeSettings) -> dict:
    cfg: dict[str, Any] = {
        "task": name,
        "test_split": "test",
        "doc_to_text": "prompt",
        "doc_to_target": "answer",
        "target_delimiter": "",  # our choices carry their own leading space; prompts are used as is
        "num_fewshot": 0,
        "metadata": {"version": 1, "source": "forgetscope probe items"},
    }
    metric = KINDS[kind].lm_eval_metric
    if not KINDS[kind].generated:
        cfg |= {
            "output_type": "multiple_choice",
            "doc_to_choice": "choices",
            "metric_list": [{"metric": metric, "aggregation": "mean", "higher_is_better": True}],
        }
    else:
        cfg |= {
            "output_type": "generate_until",
            "generation_kwargs": {"until": list(settings.stop), "max_gen_toks": settings.max_new_tokens, "do_sample": False},
            "metric_list": [{"metric": metric, "aggregation": "mean", "higher_is_better": True, **METRIC_OPTIONS.get(metric, {})}],
        }
    return cfg


def _task_name(probe: str, kind: str, mixed: bool) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]", "_", probe)
    return f"{TASK_PREFIX}{base}_{kind}" if mixed else f"{TASK_PREFIX}{base}"


def probe_task_configs(
    items: Sequence[ProbeItem],
    tokenizer=None,
    *,
    settings: ProbeSettings | None = None,
    data_dir: str | Path | None = None,
) -> dict[str, dict]:
    """lm-eval task configs (task name -> config dict), one task per probe (per probe and kind if a
    probe mixes kinds). Only items of a kind with an lm-eval metric (kinds.LM_EVAL_KINDS) map onto
    lm-eval; others are an error.

    By default the docs travel in memory (`custom_dataset`). With `data_dir`, each task's docs are
    written to `<data_dir>/<task>.jsonl` and the config loads them with `dataset_path: json`: plain
    data that can be dumped as YAML for the lm-eval command line (`--include_path`)."""
    settings = settings or ProbeSettings()
    unsupported = sorted({it.kind for it in items} - set(LM_EVAL_KINDS))
    if unsupported:
        raise UserError(
            f"probe kinds {unsupported} have no lm-eval metric; pass only {list(LM_EVAL_KINDS)} items "
            "(the native scorer scores every kind)"
        )
    groups: dict[tuple[str, str], list[ProbeItem]] = defaultdict(list)
    for it in items:
        groups[(it.probe, it.kind)].append(it)
    kinds_per_probe: dict[str, int] = defaultdict(int)
    for probe, _ in groups:
        kinds_per_probe[probe] += 1
    configs: dict[str, dict] = {}
    for (probe, kind), members in groups.items():
        name = _task_name(probe, kind, kinds_per_probe[probe] > 1)
        if name in configs:
            raise UserError(f"probe names {probe!r} and another map to the same lm-eval task name {name!r}")
        docs = [_doc(it, tokenizer) for it in members]
        cfg = _task_config(name, kind, settings)
        if data_dir is None:
            cfg["custom_dataset"] = InMemoryDocs(docs)
        else:
            path = Path(data_dir) / f"{name}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
            cfg["dataset_path"] = "json"
            cfg["dataset_kwargs"] = {"data_files": {"test": str(path)}, "cache_dir": str(Path(data_dir) / ".datasets-cache")}
        configs[name] = cfg
    return configs


# -- running lm-eval --------------------------------------------------------------------------------
def _local_hflm_class():
    from lm_eval.models.huggingface import HFLM

    class LocalHFLM(HFLM):
        """HFLM that never asks the hub for a model SHA and keeps its progress bars quiet."""

        def get_model_info(self) -> dict:
            return {"model_num_parameters": sum(p.numel() for p in self._model.parameters()),
                    "model_dtype": str(self._model.dtype), "model_sha": ""}

        def loglikelihood(self, requests, disable_tqdm: bool = False):
            return super().loglikelihood(requests, disable_tqdm=True)

        def generate_until(self, requests, disable_tqdm: bool = False):
            return super().generate_until(requests, disable_tqdm=True)

    return LocalHFLM


@contextmanager
def _rng_and_logs_kept() -> Iterator[None]:
    """lm-eval seeds the global RNGs and logs freely; leave both as the caller had them."""
    py_state, np_state = random.getstate(), np.random.get_state()
    logger = logging.getLogger("lm_eval")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        logger.setLevel(level)


def _load(model, tokenizer, device: str | None, dtype: str):
    if isinstance(model, (str, Path)):
        from forgetscope.models import load_model, load_tokenizer

        tokenizer = tokenizer if tokenizer is not None else load_tokenizer(model)
        model = load_model(model, dtype=dtype, device=device or "cpu")  # safetensors only, adapters merged
    elif tokenizer is None:
        raise UserError("evaluate_with_lm_eval: a loaded model needs its tokenizer")
    elif device is not None:
        model = model.to(device)
    return model.eval(), tokenizer


def evaluate_with_lm_eval(
    model,
    tokenizer=None,
    items: Sequence[ProbeItem] = (),
    *,
    batch_size: int = 64,
    device: str | None = None,
    extra_tasks: Sequence[str | LmEvalTask] = (),
    include_path: Sequence[str] = (),
    settings: ProbeSettings | None = None,
    dtype: str = "fp32",
) -> tuple[list[dict], dict]:
    """Score `items` (choice and exact only) and the lm-eval tasks of `extra_tasks` (names, or
    LmEvalTask with their settings) with lm-eval's HFLM. `model` is a local model folder (loaded with
    forgetscope's loader: safetensors only) or a loaded model (then `tokenizer` is required).
    Returns (rows, raw): one row per probe item, with the columns run_probes writes plus `metric`
    (lm-eval's metric name); one row per document and metric for extra tasks; raw holds lm-eval's
    `samples`, `configs` and `results` (its aggregate metrics and stderr) over every call."""
    require_lm_eval()
    from lm_eval import simple_evaluate

    items = list(items)
    tasks = [LmEvalTask.model_validate(t) for t in extra_tasks]
    settings = settings or ProbeSettings()
    model, tokenizer = _load(model, tokenizer, device, dtype)
    configs = probe_task_configs(items, tokenizer, settings=settings)
    if not configs and not tasks:
        raise UserError("evaluate_with_lm_eval: no probe items and no extra tasks: nothing to evaluate")
    lm = _local_hflm_class()(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, max_batch_size=batch_size,
                             trust_remote_code=False)
    if tasks:
        check_lm_eval_tasks(tasks, include_path)
    calls: list[tuple[list, dict, Any]] = []
    if configs:
        calls.append((list(configs.values()), {}, task_manager(False)))
    for t in tasks:  # lm-eval takes these settings per call: one call per task
        opts = {"num_fewshot": t.num_fewshot, "limit": t.limit, "apply_chat_template": t.apply_chat_template,
                "fewshot_as_multiturn": t.fewshot_as_multiturn, "gen_kwargs": t.gen_kwargs}
        calls.append(([t.name], opts, manager_for([t.name], include_path)))
    raw: dict[str, dict] = {"samples": {}, "configs": {}, "results": {}, "n-samples": {}}
    with _rng_and_logs_kept():
        for names, opts, manager in calls:
            try:
                out = simple_evaluate(model=lm, tasks=names, task_manager=manager, log_samples=True, **opts)
            except KeyError as e:
                raise UserError(f"lm-eval does not know the task {e.args[0]!r} (`lm-eval ls tasks` lists them)") from None
            except (OSError, ConnectionError) as e:  # a task's dataset neither cached nor reachable (offline)
                msg = str(e).splitlines()[0] if str(e) else type(e).__name__
                raise UserError(f"lm-eval could not load a task's dataset ({', '.join(t.name for t in tasks) or 'probe items'}): {msg}") from None
            for key in raw:
                raw[key].update(out.get(key, {}))
    rows = probe_rows(items, configs, raw["samples"])
    rows += task_rows({t: s for t, s in raw["samples"].items() if t not in configs}, raw["configs"])
    return rows, raw


def aggregate_rows(raw: dict, probe_tasks: Sequence[str] = ()) -> list[dict]:
    """lm-eval's own aggregate metrics, as it reports them: one row per task (or group) and metric,
    with its stderr (`null` where lm-eval gives none) and its sample count."""
    rows = []
    for task, res in raw.get("results", {}).items():
        if task in probe_tasks:
            continue
        n = (raw.get("n-samples", {}).get(task) or {}).get("effective")
        for key, value in res.items():
            if "," not in key or "_stderr," in key or not isinstance(value, (int, float)):
                continue
            metric, filt = key.split(",", 1)
            stderr = res.get(f"{metric}_stderr,{filt}")
            rows.append({"probe": task, "metric": metric if filt == "none" else f"{metric},{filt}", "value": float(value),
                         "stderr": float(stderr) if isinstance(stderr, (int, float)) else None, "n": n})
    return rows


# -- lm-eval's per-sample log -> tidy rows ----------------------------------------------------------
def probe_rows(items: Sequence[ProbeItem], configs: dict[str, dict], samples: dict[str, list[dict]]) -> list[dict]:
    """One row per item, in item order, with run_probes' columns plus `metric`."""
    by_id: dict[str, dict] = {}
    for task in configs:
        for s in samples.get(task, []):
            by_id[s["doc"]["id"]] = s
    rows = []
    for it in items:
        s = by_id[it.id]
        metric = KINDS[it.kind].lm_eval_metric
        if not KINDS[it.kind].generated:
            lps = np.array([float(r[0]) for r in s["filtered_resps"]])
            ans = int(it.answer)  # type: ignore[arg-type]
            probs = np.exp(lps - lps.max())
            probs /= probs.sum()
            row = {"metric": metric, "score": float(s[metric]), "output": it.choices[int(lps.argmax())],  # type: ignore[index]
                   "answer_logprob": float(lps[ans]), "answer_rank": int((lps > lps[ans]).sum()) + 1,
                   "answer_prob": float(probs[ans])}
        else:
            row = {"metric": metric, "score": float(s[metric]), "output": str(s["filtered_resps"][0]).strip()}
        meta = {f"meta_{k}": v for k, v in it.meta.items()}
        rows.append({"item_id": it.id, "probe": it.probe, "kind": it.kind, **row, **meta})
    return rows


def task_rows(samples: dict[str, list[dict]], configs: dict[str, dict]) -> list[dict]:
    """Rows for lm-eval's own tasks: one per document, metric (and filter, lm-eval's `metric,filter`)."""
    rows = []
    for task, task_samples in samples.items():
        output_type = configs.get(task, {}).get("output_type", "")
        for s in task_samples:
            output = _sample_output(s, output_type)
            for metric in s.get("metrics", []):
                value = s.get(metric)
                if isinstance(value, (bool, int, float, np.number)):
                    name = metric if s.get("filter", "none") == "none" else f"{metric},{s['filter']}"
                    rows.append({"item_id": f"{task}/{s['doc_id']}", "probe": task, "kind": output_type,
                                 "metric": name, "score": float(value), "output": output})
    return rows


def _sample_output(s: dict, output_type: str) -> str | None:
    resp = s.get("filtered_resps")
    if output_type == "generate_until" and resp and isinstance(resp[0], str):
        return resp[0].strip()
    if output_type == "multiple_choice" and resp:
        best = int(np.argmax([float(r[0]) for r in resp]))
        return str(s["arguments"][best][1]).strip()
    return None
