"""Checks of a model folder before anything is loaded from it, in milliseconds and without torch:
config.json, the weights (safetensors only: their headers are read and their sizes checked, so a
truncated file is caught here), a LoRA adapter and its base, the tokenizer files.

Weights come only from `*.safetensors` files: a config.json whose `transformers_weights` names
another file, a sharded index naming a non-safetensors shard, or an adapter folder holding pickled
weights (`*.bin`, `*.pt`, ...: PEFT falls back to `adapter_model.bin`) is refused, never unpickled.
"""

from __future__ import annotations

import fnmatch
import json
import math
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from forgetscope.errors import NonFiniteError, UserError

PICKLES = ("*.bin", "*.pt", "*.pth", "*.pkl", "*.pickle", "*.ckpt")
# What transformers' Trainer (and TRL's) saves beside a checkpoint's weights to resume training:
# pickles, but nothing forgetscope, transformers or PEFT loads as weights; forgetscope never reads them.
TRAINER_STATE = ("training_args.bin", "optimizer.pt", "scheduler.pt", "scaler.pt", "rng_state.pth", "rng_state_*.pth")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model")
SAFETENSORS_HEADER_MAX = 100_000_000  # the format's own limit
_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
                "U16": 2, "U32": 4, "U64": 8, "F8_E4M3": 1, "F8_E5M2": 1}


def is_local_path(source: str) -> bool:
    """A path (existing, or written like one) rather than a hub id such as "org/name"."""
    return source.startswith((".", "/", "~")) or Path(source).expanduser().exists()


def read_json_object(path: Path, what: str = "JSON") -> dict[str, Any]:
    """A JSON file that must hold an object; anything else is a one-line error naming the file."""
    try:
        data = json.loads(path.read_bytes())
    except json.JSONDecodeError as e:
        raise UserError(f"{path}:{e.lineno}: malformed {what}: {e.msg}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: malformed {what}: not UTF-8 text") from None
    except OSError as e:
        raise UserError(f"{path}: cannot be read: {e.strerror or e}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: malformed {what}: expected an object, got {type(data).__name__}")
    return data


def check_safetensors_file(path: Path) -> None:
    """Read a safetensors header and check the file holds every byte it announces (a truncated or
    garbage file is a one-line error before anything is loaded)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise UserError(f"{path}: damaged safetensors file ({size} bytes: shorter than its header)")
            (n,) = struct.unpack("<Q", head)
            if n > SAFETENSORS_HEADER_MAX or 8 + n > size:
                raise UserError(f"{path}: damaged safetensors file (its header announces {n} bytes; the file has {size})")
            header = json.loads(f.read(n))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UserError(f"{path}: damaged safetensors file (its header is not JSON)") from None
    except OSError as e:
        raise UserError(f"{path}: cannot be read: {e.strerror or e}") from None
    if not isinstance(header, dict):
        raise UserError(f"{path}: damaged safetensors file (its header is not an object)")
    data_bytes = size - 8 - n
    end = 0
    for name, t in header.items():
        if name == "__metadata__":
            continue
        try:
            begin, stop = (int(x) for x in t["data_offsets"])
            shape = [int(d) for d in t["shape"]]
        except (KeyError, TypeError, ValueError):
            raise UserError(f"{path}: damaged safetensors file (tensor {name!r} has no valid offsets)") from None
        width = _DTYPE_BYTES.get(str(t.get("dtype")))
        if begin < 0 or stop < begin or (width is not None and stop - begin != width * math.prod(shape)):
            raise UserError(f"{path}: damaged safetensors file (tensor {name!r}: offsets {begin}..{stop} do not fit its shape)")
        end = max(end, stop)
    if end != data_bytes:
        raise UserError(f"{path}: damaged safetensors file (its tensors need {end} bytes of data, the file holds {data_bytes}: "
                        f"{'truncated' if end > data_bytes else 'extra bytes'})")


def _pickles(path: Path) -> list[str]:
    """Pickled files in a model folder that a loader could take for weights (the Trainer's own state aside)."""
    return sorted(p.name for pattern in PICKLES for p in path.glob(pattern)
                  if not any(fnmatch.fnmatchcase(p.name, t) for t in TRAINER_STATE))


def _inside(path: Path, name: str) -> bool:
    return "/" not in name and "\\" not in name and name not in ("", ".", "..") and (path / name).is_file()


def check_weights(path: Path, config: dict[str, Any]) -> list[Path]:
    """The safetensors files a full model folder's weights come from, each checked; refuses what
    would make transformers read another kind of file."""
    named = config.get("transformers_weights")
    if named is not None:
        if not isinstance(named, str) or not named.endswith((".safetensors", ".safetensors.index.json")) or not _inside(path, named):
            raise UserError(f"{path / 'config.json'}: 'transformers_weights' names {named!r}; forgetscope loads weights only "
                            "from *.safetensors files in the model folder (remove the key, or convert the weights)")
    index = path / (named if isinstance(named, str) and named.endswith(".index.json") else "model.safetensors.index.json")
    if index.exists():
        weight_map = read_json_object(index, "safetensors index").get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise UserError(f"{index}: malformed safetensors index (no weight_map)")
        shards = sorted(set(map(str, weight_map.values())))
        bad = [s for s in shards if not s.endswith(".safetensors") or not _inside(path, s)]
        if bad:
            raise UserError(f"{index}: names {bad[0]!r}, not a *.safetensors file in the folder; forgetscope loads weights only from safetensors")
        files = [path / s for s in shards]
    else:  # what transformers loads without an index: the named file, or model.safetensors
        weights = path / (named if isinstance(named, str) and named.endswith(".safetensors") else "model.safetensors")
        if not weights.is_file():
            pickles, others = _pickles(path), sorted(p.name for p in path.glob("*.safetensors"))
            hints = [f"found {', '.join(others)}: without model.safetensors.index.json transformers loads "
                     f"{weights.name}; rename the file or write an index"] if others else []
            if pickles:
                hints.append(f"found {', '.join(pickles)}: pickled weights are never loaded; convert them to safetensors")
            hint = f" ({'; '.join(hints)})" if hints else ""
            raise UserError(f"{path}: no {weights.name} weights{hint}")
        files = [weights]
    for f in files:
        check_safetensors_file(f)
    return files


def check_model_folder(path: Path, *, adapter_ok: bool = True) -> None:
    """Raise a one-line UserError unless `path` is a loadable model (or adapter) folder."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such model folder")
    if not path.is_dir():
        raise UserError(f"{path}: is a file, expected a model folder (config.json + *.safetensors)")
    if (path / "adapter_config.json").exists():
        if not adapter_ok:
            raise UserError(f"{path}: is a LoRA adapter folder where a full model folder is needed")
        check_adapter_folder(path)
        return
    if not (path / "config.json").exists():
        raise UserError(f"{path}: not a model folder (no config.json)")
    check_weights(path, read_json_object(path / "config.json"))


def adapter_base(path: Path) -> str:
    """The base an adapter folder names (`base_model_name_or_path`)."""
    cfg = read_json_object(path / "adapter_config.json")
    base = cfg.get("base_model_name_or_path")
    if not base or not isinstance(base, str):
        raise UserError(f"{path / 'adapter_config.json'}: no base_model_name_or_path")
    return base


def check_adapter_folder(path: Path) -> None:
    """A LoRA adapter: its weights (check_adapter_weights); its base a full model folder (not itself,
    nor another adapter: one level only) or a hub id."""
    check_adapter_weights(path)
    base = adapter_base(path)
    if is_local_path(base):
        base_path = Path(base).expanduser()
        if not base_path.is_absolute():
            base_path = Path.cwd() / base_path
        if base_path.resolve() == path.resolve():
            raise UserError(f"{path / 'adapter_config.json'}: base_model_name_or_path points at the adapter itself")
        if (base_path / "adapter_config.json").exists():
            raise UserError(f"{path / 'adapter_config.json'}: its base {base} is itself an adapter folder; "
                            "forgetscope loads one adapter on a full model (merge the first adapter into its base)")
        check_model_folder(base_path, adapter_ok=False)


def check_adapter_weights(path: Path) -> None:
    """An adapter's weights, whatever base it names: adapter_model.safetensors (checked) and no
    pickled weights beside it (PEFT might load those instead)."""
    pickles = _pickles(path)
    if pickles:
        raise UserError(f"{path}: adapter folder holding pickled weights ({', '.join(pickles)}); PEFT may load them instead of "
                        "the safetensors: forgetscope refuses it (delete them, keep adapter_model.safetensors)")
    weights = path / "adapter_model.safetensors"
    if not weights.is_file():
        raise UserError(f"{path}: adapter folder without adapter_model.safetensors")
    check_safetensors_file(weights)


def check_tokenizer_files(path: Path, files: Sequence[str] = TOKENIZER_FILES) -> None:
    """A local model folder's tokenizer: one of `files` present (a translation model's tokenizer can
    be a sentencepiece or vocabulary file), and its JSON files parse (a truncated download is a
    one-line error naming the file, not a traceback from the tokenizer library)."""
    if not any((path / n).exists() for n in files):
        raise UserError(f"{path}: model folder without a tokenizer (no tokenizer.json or tokenizer_config.json)")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        if (path / name).exists():
            read_json_object(path / name)


def check_finite_weights(model, where: str | Path) -> None:
    """Refuse a model with a NaN or an infinity in its weights: nothing it computes can be trusted."""
    import torch

    for name, t in model.named_parameters():  # not buffers: masks may hold -inf on purpose
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise NonFiniteError(f"{where}: non-finite weights ({name}: {bad} of {t.numel()} values NaN or infinite); "
                                 "the model cannot be evaluated or trained")
