"""Fail before compute: every file, folder and name a config gives is read and checked first, in
seconds, by `forgetscope validate` and at the start of `forgetscope run`, before any model trains or
is scored. Nothing here writes. Two kinds of checks:

    the study's inputs  a study's `preflight(cfg)` (its entry in the study registry) lists them as
                        `Check`s built from the shared pieces here: data sources, probe files, models,
                        existing checkpoints, lm-eval task names. Every problem is a line of one
                        UserError that names the config field, then the file and line (or row).
    every config        `preflight(cfg, run_dir, may_change)`: every local model folder (a ModelSpec anywhere, an
                        mt_model transform's folder: config.json, safetensors headers and sizes,
                        adapter and base, tokenizer files; forgetscope.models.checks), and the run
                        folder (`--out`): not a file, not foreign content, its config.yaml and
                        manifest.json readable and of this config, no symbolic link in it, writable.
                        The numbers are bounded in the config models themselves (pydantic).

Add a check for a new input here and list it in the study's preflight.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from forgetscope.errors import Problems, UserError

Want = Literal["finetune", "text", "pattern"]


@dataclass
class Check:
    field: str  # the config field it checks, named in its error
    run: Callable[[], object]


def run_checks(checks: Iterable[Check]) -> float:
    """Run every check, each whatever the others found: every problem is a line of one UserError,
    naming its config field (six missing files: six lines, in one run). A problem met again by a later
    check (the base model's tokenizer, needed to read SFT data) is told once. Returns the seconds they took."""
    start = time.perf_counter()
    problems: list[str] = []
    seen: set[str] = set()
    for check in checks:
        try:
            check.run()
        except UserError as e:
            for msg in e.problems if isinstance(e, Problems) else [str(e)]:
                same = NAMED_BY.sub("", FIELD.sub("", msg))
                if same not in seen:
                    seen.add(same)
                    problems.append(msg if msg.startswith(check.field) else f"{check.field}: {msg}")
    if len(problems) == 1:
        raise UserError(problems[0])
    if problems:
        raise Problems(problems)
    return time.perf_counter() - start


# The same problem, found by the model-folder checks ("... (named by base)") and a study's ("base: ..."), is told once.
NAMED_BY, FIELD = re.compile(r" \(named by [^)]*\)$"), re.compile(r"^[a-z_]+(\.[a-z_0-9]+)*: ")



def data(ref, want: Want, tokenizer: Callable[[], Any] | None = None, *, loss: str = "completion", block: int | None = None) -> int:
    """Read every row of a data source and check it has what `want` needs, row by row; SFT rows are
    rendered with the tokenizer's chat template as fine-tuning will render them. `block`: text rows
    are packed into blocks of this many tokens (LM training), so they must hold one at least.
    `tokenizer`: loads the model's tokenizer, called once the rows are read (a tokenizer that does not
    load is the model's check's problem: the checks that need it are skipped). Returns the row count."""
    from forgetscope.data import detect_format, lm_texts, sft_segments
    from forgetscope.data.sources import as_source, load_rows_with_places

    src = as_source(ref)
    placed = load_rows_with_places(src)
    rows, places = [r for _, r in placed], [w for w, _ in placed]
    if want == "pattern":  # chat and plain prompts may be mixed, row by row
        for r, at in zip(rows, places, strict=True):
            if "messages" not in r and "text" not in r:
                raise UserError(f"{at}: expected a 'messages' or 'text' field, found {sorted(r)}")
            detect_format([r], src.label, [at])
        return len(rows)
    fmt = detect_format(rows, src.label, places)
    if want == "text":
        lm_texts(rows, src.label)
    if tokenizer is None or (block is None and (want != "finetune" or fmt == "text")):
        return len(rows)
    try:
        tok = tokenizer()
    except UserError:
        return len(rows)
    if want == "finetune" and fmt != "text":
        sft_segments(rows, tok, src.label, loss)  # type: ignore[arg-type]
    if block is not None and fmt == "text":
        n = lm_tokens([r["text"] for r in rows], tok, block)
        if n < block:
            raise UserError(f"{src.label}: the texts hold {n} tokens, fewer than one training block of {block} "
                            "(train.max_length): LM training packs them into blocks of that many; give more text")
    return len(rows)


def lm_tokens(texts: list[str], tokenizer, enough: int) -> int:
    """Tokens in `texts` as LM training packs them (training.LMBatches: each text's tokens and an
    EOS), counted until there are `enough`."""
    eos = 1 if tokenizer.eos_token_id is not None else 0
    n = 0
    for start in range(0, len(texts), 256):
        n += sum(len(ids) + eos for ids in tokenizer(texts[start:start + 256], add_special_tokens=False)["input_ids"])
        if n >= enough:
            break
    return n


def probes(ref) -> int:
    from forgetscope.evaluation.items import load_items

    return len(load_items(ref))


def model(spec) -> None:
    """A pretrained model (ModelSpec): its folder (or hub config) and its tokenizer load."""
    spec.check()
    spec.load_tokenizer()


def checkpoints(spec, base) -> list:
    """Existing checkpoints (finetune.checkpoints_from): found, and each a fine-tune of `base`."""
    from forgetscope.models.checkpoints_from import check_against_base, find_checkpoints

    found = find_checkpoints(spec)
    check_against_base(found, base)
    return found


def lm_eval_tasks(tasks, include_path=(), include_field: str = "eval.lm_eval_include_path") -> None:
    from forgetscope.evaluation.lm_eval_tasks import check_lm_eval_tasks

    check_lm_eval_tasks(tasks, include_path, include_field)


def local_inputs(models: dict[str, str | None], files: dict[str, str | None]) -> None:
    """The command line's local model folders and data files, {option: value}, checked before torch and
    transformers are imported (15-25 s): a folder that is no model, a file that is not there, is told
    in a second. Hub ids and datasets sources are checked where they are loaded. Every problem, one line each."""
    from forgetscope.data.sources import as_source
    from forgetscope.models.checks import check_model_folder, is_local_path

    checks = [Check(opt, lambda m=m: (check_model_folder(Path(m).expanduser()), pickles_ignored(Path(m).expanduser())))
              for opt, m in models.items() if m is not None and is_local_path(m)]
    for opt, f in files.items():
        if f is not None and as_source(f).is_local_file and not Path(f).expanduser().is_file():
            what = "is a folder, expected a file" if Path(f).expanduser().is_dir() else "no such file"
            checks.append(Check(opt, lambda f=f, what=what: _fail(f"{f}: {what}")))
    run_checks(checks)


def _fail(message: str):
    raise UserError(message)


# -- every config ---------------------------------------------------------------------------------
def preflight(cfg: BaseModel, run_dir: Path | None = None, may_change: tuple[str, ...] = ()) -> None:
    """The checks every config gets; every problem is a line of one UserError. `may_change`:
    the config sections a run folder accepts as changed (the study's, forgetscope.runs.prepare_run)."""
    checks = [Check("", lambda: check_model_folders(cfg))]
    if run_dir is not None:
        checks.append(Check("", lambda: check_store(run_dir, cfg, may_change)))
    run_checks(checks)


# -- model folders ---------------------------------------------------------------------------------
def config_nodes(node: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    """(field path, value) for every section, list item and value anywhere in a config."""
    yield where, node
    if isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield from config_nodes(getattr(node, name), f"{where}.{name}" if where else name)
    elif isinstance(node, (list, tuple)):
        for i, item in enumerate(node):
            yield from config_nodes(item, f"{where}.{i}")


def model_specs(cfg: BaseModel) -> Iterator[tuple[str, Any]]:
    """(field path, ModelSpec) for every model spec anywhere in a config."""
    from forgetscope.models import ModelSpec

    return ((where, node) for where, node in config_nodes(cfg) if isinstance(node, ModelSpec))


def transform_folders(cfg: BaseModel) -> Iterator[tuple[str, Path]]:
    """(field path, folder) of every model-backed transform (mt_model) in a config."""
    from forgetscope.suites.base import TransformSpec

    for where, node in config_nodes(cfg):
        if isinstance(node, TransformSpec) and node.name == "mt_model" and isinstance(node.options.get("path"), str):
            yield where, Path(node.options["path"]).expanduser()


def check_model_folders(cfg: BaseModel) -> None:
    """Every local model folder the config names, as forgetscope.models.checks checks it (hub ids
    are checked when they are loaded: nothing here goes to the network)."""
    from forgetscope.models.checks import check_model_folder, check_tokenizer_files, is_local_path

    checks = []
    for where, spec in model_specs(cfg):
        if is_local_path(spec.path):
            path = Path(spec.path).expanduser()
            checks.append(Check("", lambda where=where, path=path: (_named(where, check_model_folder, path),
                                                                     _named(where, check_tokenizer_files, path), pickles_ignored(path))))
    for where, path in transform_folders(cfg):
        checks.append(Check("", lambda where=where, path=path: _named(where, check_model_folder, path, adapter_ok=False)))
    run_checks(checks)


def pickles_ignored(path: Path) -> None:
    """A full model folder may keep pickled weights beside its safetensors (hub repos often ship
    pytorch_model.bin and model.safetensors): they are never read (transformers is asked for safetensors
    only), and a notice says so. An adapter folder with a pickle is refused (models.checks)."""
    import fnmatch

    from forgetscope.models.checks import PICKLES, TRAINER_STATE
    from forgetscope.store.records import notice

    if (path / "config.json").is_file() and not (path / "adapter_config.json").exists():
        found = sorted(p.name for pattern in PICKLES for p in path.glob(pattern)
                       if not any(fnmatch.fnmatchcase(p.name, t) for t in TRAINER_STATE))  # the Trainer's own state is no weights
        if found:
            notice(f"{path}: {', '.join(found)} ignored: weights are loaded only from *.safetensors, never unpickled")


def _named(where: str, check, *args, **kwargs) -> None:
    try:
        check(*args, **kwargs)
    except UserError as e:
        raise UserError(f"{e} (named by {where})") from None


# -- the store -------------------------------------------------------------------------------------
def check_store(run_dir: Path, cfg: BaseModel, may_change: tuple[str, ...] = ()) -> None:
    """The run folder a run would use: what prepare_run refuses, found before any work."""
    from forgetscope.runs import check_resume, read_manifest
    from forgetscope.store import RunStore

    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"{run_dir}: is a file, not a run folder; choose another --out")
    if not run_dir.exists():
        parent = next((p for p in run_dir.absolute().parents if p.exists()), None)
        if parent is not None and not os.access(parent, os.W_OK | os.X_OK):
            raise UserError(f"{parent}: permission denied: the run folder {run_dir} cannot be created there")
        return
    store = RunStore(run_dir)
    if not os.access(run_dir, os.W_OK | os.X_OK):
        raise UserError(f"{run_dir}: permission denied: the run folder is not writable")
    check_resume(store, cfg, may_change)
    if not store.config_path.exists():
        return
    read_manifest(store)
    store.guard.refuse_links()
