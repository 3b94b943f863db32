"""Checkpoints a user already has: the trajectory of a fine-tuning run forgetscope did not train.

`finetune.checkpoints_from` takes one of
    a folder holding `checkpoint-N/` folders, as transformers' Trainer and TRL write them (full
        weights, or PEFT adapters); the step is N, or `global_step` of its trainer_state.json;
    a list of {step, path} (each path a model or adapter folder, or a hub id with `revision`);
    {hub: org/name, revisions: [...]}: intermediate revisions of one hub repository, each a name
        with its step in it ("step1000", "stage1-step5000-tokens21B") or {step, revision}.
`find_checkpoints` lists them; `check_against_base` compares each with the base (architecture,
tokenizer, an adapter's base and shapes) from config files and tensor headers only: seconds, before
any model is loaded.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from forgetscope.config import StrictModel
from forgetscope.errors import UserError
from forgetscope.models.checks import check_model_folder, is_local_path
from forgetscope.training.config import MAX_STEPS

CHECKPOINT_DIR = re.compile(r"^checkpoint-(\d+)$")
STEP_IN_REVISION = re.compile(r"step[-_]?(\d+)", re.IGNORECASE)
# config.json keys that make two models the same architecture (a checkpoint must equal its base on these)
ARCHITECTURE_KEYS = ("model_type", "architectures", "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                     "num_key_value_heads", "intermediate_size", "head_dim", "tie_word_embeddings")


class CheckpointRef(StrictModel):
    step: int = Field(..., ge=1, le=MAX_STEPS, description="the fine-tuning step this checkpoint was saved at")
    path: str = Field(..., description="a model folder, a PEFT adapter folder, or a hub id")
    revision: str | None = Field(None, description="hub revision of `path` (hub ids only)")


class RevisionRef(StrictModel):
    step: int = Field(..., ge=1, le=MAX_STEPS)
    revision: str


class HubRevisions(StrictModel):
    hub: str = Field(..., description="hub repository id, e.g. EleutherAI/pythia-160m")
    revisions: list[str | RevisionRef] = Field(..., min_length=1, description="revision names holding their step (step1000), or {step, revision}")


CheckpointsFrom = str | list[CheckpointRef] | HubRevisions


@dataclass(frozen=True)
class FoundCheckpoint:
    step: int
    path: str
    revision: str | None = None

    @property
    def is_adapter(self) -> bool:
        return is_local_path(self.path) and (Path(self.path).expanduser() / "adapter_config.json").exists()

    @property
    def label(self) -> str:
        return f"{self.path}@{self.revision}" if self.revision else self.path

    def record(self) -> dict:
        return {"step": self.step, "path": self.path, "revision": self.revision, "adapter": self.is_adapter}


def find_checkpoints(spec: CheckpointsFrom) -> list[FoundCheckpoint]:
    """The checkpoints `spec` names, sorted by step; a one-line UserError when there are none."""
    if isinstance(spec, str):
        found = _trainer_folder(spec)
    elif isinstance(spec, HubRevisions):
        found = [FoundCheckpoint(_revision_step(r, spec.hub), spec.hub, r if isinstance(r, str) else r.revision)
                 for r in spec.revisions]
    else:
        found = [FoundCheckpoint(c.step, _local_or_hub(c.path), c.revision) for c in spec]
    steps = [c.step for c in found]
    dup = sorted({s for s in steps if steps.count(s) > 1})
    if dup:
        raise UserError(f"finetune.checkpoints_from: two checkpoints at step {dup[0]}")
    for c in found:
        if is_local_path(c.path):
            check_model_folder(Path(c.path).expanduser())
    return sorted(found, key=lambda c: c.step)


def _local_or_hub(path: str) -> str:
    return str(Path(path).expanduser().resolve()) if is_local_path(path) else path


def _trainer_folder(folder: str) -> list[FoundCheckpoint]:
    root = Path(folder).expanduser()
    if not root.exists():
        hint = " (a hub repository's revisions: {hub: ..., revisions: [...]})" if not is_local_path(folder) else ""
        raise UserError(f"{folder}: no such checkpoint folder{hint}")
    if not root.is_dir():
        raise UserError(f"{folder}: is a file, expected a folder of checkpoint-N folders")
    found = []
    for sub in sorted(root.iterdir()):
        m = CHECKPOINT_DIR.match(sub.name)
        if not (m and sub.is_dir()):
            continue
        step = int(m.group(1))
        state = sub / "trainer_state.json"
        if state.exists():
            try:
                global_step = json.loads(state.read_text()).get("global_step")
            except json.JSONDecodeError as e:
                raise UserError(f"{state}:{e.lineno}: malformed JSON: {e.msg}") from None
            if global_step is not None and int(global_step) != step:
                raise UserError(f"{state}: global_step {global_step} differs from the folder name's step {step}")
        if step < 1:
            raise UserError(f"{sub}: step 0 is the base; a fine-tuning checkpoint has a step of 1 or more")
        found.append(FoundCheckpoint(step, str(sub.resolve())))
    if not found:
        raise UserError(f"{root}: no checkpoint-N folders in it (as transformers' Trainer / TRL's save_steps write them)")
    return found


def _revision_step(rev: str | RevisionRef, hub: str) -> int:
    if isinstance(rev, RevisionRef):
        return rev.step
    m = STEP_IN_REVISION.findall(rev)
    if not m:
        raise UserError(f"finetune.checkpoints_from: revision {rev!r} of {hub} names no step; write {{step: N, revision: {rev}}}")
    return int(m[-1])


# -- the checks against the base ---------------------------------------------------------------------
def check_against_base(found: list[FoundCheckpoint], base) -> None:
    """A one-line UserError unless every checkpoint is a fine-tune of `base` (a ModelSpec): the same
    architecture (config.json), the same tokenizer where the checkpoint has one, and, for an adapter,
    the base it names and tensors that fit the base's layers."""
    base_cfg = _config_dict(base.path, base.revision, base.trust_remote_code)
    base_tok = None
    for c in found:
        if c.is_adapter:
            _check_adapter(c, base, base_cfg)
        else:
            cfg = _config_dict(c.path, c.revision, base.trust_remote_code)
            diff = [k for k in ARCHITECTURE_KEYS if cfg.get(k) != base_cfg.get(k)]
            if diff:
                k = diff[0]
                raise UserError(f"{c.label}: not a checkpoint of the base {base.path}: config.json '{k}' is {cfg.get(k)!r}, "
                                f"the base's {base_cfg.get(k)!r}")
        if _has_tokenizer(c):
            from forgetscope.models.loading import check_same_tokenizer, load_tokenizer

            base_tok = base_tok or base.load_tokenizer()
            tok = load_tokenizer(c.path, revision=c.revision, trust_remote_code=base.trust_remote_code)
            check_same_tokenizer(base_tok, tok, f"{c.label}: its tokenizer differs from the base's ({base.path})")


def _has_tokenizer(c: FoundCheckpoint) -> bool:
    if not is_local_path(c.path):
        return True
    folder = Path(c.path).expanduser()
    return any((folder / n).exists() for n in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model"))


def _config_dict(source: str, revision: str | None, trust_remote_code: bool) -> dict:
    if is_local_path(source):
        path = Path(source).expanduser() / "config.json"
        if not path.exists():
            raise UserError(f"{path.parent}: not a model folder (no config.json)")
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise UserError(f"{path}:{e.lineno}: malformed JSON: {e.msg}") from None
    from forgetscope.models.loading import model_config

    try:
        return model_config(source, revision=revision, trust_remote_code=trust_remote_code).to_dict()
    except (OSError, ValueError) as e:
        where = f"{source}@{revision}" if revision else source
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f"{where}: could not read its config.json (unknown revision, or not in the local cache offline): {first}") from None


def _check_adapter(c: FoundCheckpoint, base, base_cfg: dict) -> None:
    folder = Path(c.path)
    acfg = json.loads((folder / "adapter_config.json").read_text())
    named = acfg.get("base_model_name_or_path")
    if named and not _same_model(named, base.path):
        raise UserError(f"{folder / 'adapter_config.json'}: an adapter for {named}, not for the base {base.path} "
                        "(if the base folder moved, set base_model_name_or_path to it)")
    shapes = _module_shapes(base_cfg, base.trust_remote_code)
    from safetensors import safe_open

    files = sorted(folder.glob("*.safetensors"))
    with safe_open(str(files[0]), framework="pt") as f:
        for key in f.keys():  # noqa: SIM118 - safe_open has no __iter__
            m = re.match(r"^(?:base_model\.model\.)?(.*)\.lora_([AB])(?:\.default)?\.weight$", key)
            if not m:
                continue
            module, which = m.groups()
            shape = f.get_slice(key).get_shape()
            if module not in shapes:
                raise UserError(f"{files[0]}: adapts {module!r}, which the base {base.path} does not have")
            out_f, in_f = shapes[module]
            if (which == "A" and shape[1] != in_f) or (which == "B" and shape[0] != out_f):
                raise UserError(f"{files[0]}: {key} has shape {list(shape)}, which does not fit the base's {module} "
                                f"({out_f} x {in_f})")


def _same_model(a: str, b: str) -> bool:
    if is_local_path(a) and is_local_path(b):
        return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()
    return a == b


def _module_shapes(cfg_dict: dict, trust_remote_code: bool) -> dict[str, tuple[int, int]]:
    """(out, in) features of every linear / embedding layer of the base, from its config alone (meta device)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg_dict = dict(cfg_dict)
    model_type = cfg_dict.pop("model_type")
    cfg = AutoConfig.for_model(model_type, **cfg_dict)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(cfg, trust_remote_code=trust_remote_code)
    out = {}
    for name, mod in model.named_modules():
        w = getattr(mod, "weight", None)
        if w is not None and w.dim() == 2:
            out[name] = (int(w.shape[0]), int(w.shape[1]))
    return out
