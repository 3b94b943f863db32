"""forgetscope's own bad-input corpus: absurd or hostile configs, broken model and adapter folders.
Each case is refused with a one-line error naming what and where, in milliseconds, before any
compute (the CLI path of a few of them is checked end to end at the bottom)."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import SMOKE, assert_one_line_error, run_cli, with_changes, write_yaml

from forgetscope.errors import UserError


def _cfg(study="trajectory", **changes) -> dict:
    """The test smoke config (or a small regression one) with `a__b__c=value` changes."""
    import copy

    cfg = copy.deepcopy(SMOKE) if study == "trajectory" else {
        "study": "regression", "seeds": [0], "task": {"d": 3, "k_max": 5, "n_discrete": 4},
        "base": {"model": {"layers": 1, "width": 16, "heads": 2}, "train": {"steps": 30, "batch_size": 16}},
        "finetune": {"train": {"steps": 12, "batch_size": 16}, "checkpoints": {"steps": [4, 8, 12]}},
        "eval": {"prompts": 40, "gammas": [2.0]}, "analysis": {"small_k": 2}}
    return with_changes(cfg, **changes)


# -- configs: every number bounded or cross-checked, nothing built to validate it -----------------
ABSURD = [
    ({"finetune__checkpoints": {"count": 1_000_000_000}}, "finetune.checkpoints.count"),
    ({"finetune__train__steps": 1.0e12}, "finetune.train.steps"),
    ({"finetune__train__batch_size": 1_000_000_000}, "finetune.train.batch_size"),
    ({"runtime__threads": 100_000}, "per CPU core"),
    ({"runtime__workers": 100_000}, "per CPU core"),
    ({"seeds": [-1]}, "seeds.0"),
    ({"seeds": [2**40]}, "seeds.0"),
    ({"finetune__train__lr": float("nan")}, "finetune.train.lr"),
    ({"restore__train__lr": float("inf")}, "restore.train.lr"),
    ({"finetune__checkpoints": {"count": 20}}, "checkpoints.count (20) is more than the training steps (9)"),
    ({"finetune__checkpoints": {"steps": [0, 9]}}, "outside 1..9"),
    ({"eval__max_new_tokens": 1_000_000}, "eval.max_new_tokens"),
    ({"analysis__n_bootstrap": 1_000_000_000}, "analysis.n_bootstrap"),
    ({"world__pretrain__icl_episodes": 1_000_000_000}, "world.pretrain.icl_episodes"),
    ({"base__model__hidden": 1_000_000}, "base.model.hidden"),
    ({"finetune__train__max_length": 10_000_000}, "finetune.train.max_length"),
    ({"finetune__train__betas": [1.5, 0.9]}, "finetune.train.betas.0"),
    ({"world__people__eval": 10_000_000}, "world.people.eval"),
]
REGRESSION_ABSURD = [
    ({"task__d": 1_000_000}, "task.d"),
    ({"eval__prompts": 1_000_000_000}, "eval.prompts"),
    ({"eval__gammas": [2.0] * 1000}, "eval.gammas"),
    ({"base__model__layers": 100_000}, "base.model.layers"),
]


@pytest.mark.parametrize("change, fragment", ABSURD + [({"study": "regression", **c}, f) for c, f in REGRESSION_ABSURD],
                         ids=[f for _, f in ABSURD] + [f for _, f in REGRESSION_ABSURD])
def test_absurd_value_is_refused(tmp_path, change, fragment):
    from forgetscope.studies.registry import load_config

    study = change.pop("study", "trajectory")
    f = write_yaml(tmp_path / "c.yaml", _cfg(study, **change))
    with pytest.raises(UserError) as e:
        load_config(Path(f))
    msg = str(e.value)
    assert "\n" not in msg and "c.yaml" in msg and fragment in msg, msg


def test_every_config_number_is_bounded():
    """Every int or float field of every config section has an upper bound, except the few listed
    here with the check that stands in for one."""
    import annotated_types
    from pydantic import BaseModel

    from forgetscope.restoration import RESTORERS
    from forgetscope.studies.registry import STUDIES

    cross_checked = {
        "TrainConfig.lr": "a rate too high shows as a non-finite loss: the run stops at that step (exit 2)",
        "Recipe.lr": "replaces finetune.train.lr: the same loop, the same non-finite-loss stop (exit 2)",
        "SeedsRuntime.threads": "at most 4 per CPU core (a validator)",
        "RuntimeConfig.threads": "at most 4 per CPU core (a validator)",
        "SeedsRuntime.workers": "at most 4 per CPU core (a validator)",
    }
    seen, unbounded = set(), []

    def walk(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        for name, field in model.model_fields.items():
            for t in _leaf_types(field.annotation, field.metadata):
                kind, meta = t
                if kind is None:
                    continue
                if isinstance(kind, type) and issubclass(kind, BaseModel):
                    walk(kind)
                elif kind in (int, float) and not any(isinstance(m, (annotated_types.Le, annotated_types.Lt)) for m in meta):
                    if f"{model.__name__}.{name}" not in cross_checked:
                        unbounded.append(f"{model.__name__}.{name}")

    for study in STUDIES.names():
        walk(STUDIES.get(study).config)
    for name in RESTORERS.names():
        walk(RESTORERS.get(name).Options)
    assert len(seen) > 20
    assert not unbounded, f"numbers without an upper bound: {unbounded}"


def _leaf_types(annotation, metadata=()):
    """(type, constraints) of every leaf of an annotation (unions, lists, tuples, Annotated)."""
    import typing

    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *meta = typing.get_args(annotation)
        extra = [m for x in meta for m in (getattr(x, "metadata", None) or [x])]
        return _leaf_types(base, [*metadata, *extra])
    if origin in (typing.Union, list, tuple, dict, __import__("types").UnionType):
        args = typing.get_args(annotation)
        out = []
        for a in args:
            if a is Ellipsis:
                continue
            out += _leaf_types(a, metadata if origin is not dict else ())
        return out
    if origin is typing.Literal or annotation in (str, bool, type(None)) or origin is not None:
        return [(None, ())]
    return [(annotation, list(metadata))]


def test_absurd_config_validates_in_bounded_time_and_memory(tmp_path):
    """The issue's case: `checkpoints.count: 1000000000` made `validate` grow to 24 GB. Now: one line,
    under an address-space cap of 512 MiB over what the process had mapped, the peak memory growing
    by less than 50 MB (the time it takes: benchmarks/README.md, "Faults: kill -9 campaign, damaged runs, hostile configs")."""
    f = write_yaml(tmp_path / "absurd.yaml", _cfg(finetune__checkpoints={"count": 1_000_000_000},
                                                    finetune__train__steps=10_000_000))
    code = (
        "import resource, sys, time\n"
        "from pathlib import Path\n"
        "from forgetscope.studies.registry import load_config\n"
        "from forgetscope.errors import UserError\n"
        "from forgetscope.studies.registry import STUDIES\n"
        "STUDIES.get('trajectory')  # every import done before the cap\n"
        "import os\n"
        "size = int(open('/proc/self/statm').read().split()[0]) * os.sysconf('SC_PAGE_SIZE')\n"
        "resource.setrlimit(resource.RLIMIT_AS, (size + 2**29, size + 2**29))  # 512 MiB more than now, at most\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "t0 = time.perf_counter()\n"
        "try:\n    load_config(Path(sys.argv[1]))\nexcept UserError as e:\n"
        "    grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before\n"
        "    print(f'{time.perf_counter() - t0:.3f} {grew}', e)\n"
    )
    env = {**__import__("os").environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", code, f], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    _, grew_kib, msg = proc.stdout.split(" ", 2)
    assert int(grew_kib) < 50_000 and "finetune.checkpoints.count" in msg, proc.stdout


# -- YAML itself ----------------------------------------------------------------------------------
LAUGHS = "study: trajectory\n" + "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9))


@pytest.mark.parametrize("text, fragment", [
    (LAUGHS, "YAML aliases (*a0) are not allowed"),  # ~9^9 entries once expanded
    ("study: trajectory\nbase: &b {kind: tiny}\nrestore: *b\n", "c.yaml:3: YAML aliases"),
    ("study: trajectory\nseeds: [0, 1\n", "malformed YAML"),  # cut mid-file
    ("study: trajectory\nseeds: " + "[" * 100_000 + "]" * 100_000 + "\n", "nest"),  # libyaml stops at 1000 levels, forgetscope at 64
    ("study: trajectory\n- x\n", "malformed YAML"),
], ids=["billion-laughs", "merge-alias", "cut", "deep", "mixed"])
def test_hostile_yaml_is_refused_in_one_line(tmp_path, text, fragment):
    from forgetscope.studies.registry import load_config

    f = tmp_path / "c.yaml"
    f.write_text(text)
    with pytest.raises(UserError) as e:
        load_config(f)
    assert fragment in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_config_not_utf8_or_too_large(tmp_path):
    from forgetscope.studies.registry import load_config

    f = tmp_path / "c.yaml"
    f.write_bytes(b"study: trajectory\nname: caf\xe9\n")
    with pytest.raises(UserError, match=r"c.yaml:2: not UTF-8 text"):
        load_config(f)
    f.write_text("study: trajectory\n" + "# padding\n" * 30_000)
    with pytest.raises(UserError, match="a config is at most"):
        load_config(f)


def test_alias_in_an_override_is_refused():
    from forgetscope.config import apply_overrides

    with pytest.raises(UserError, match="--set"):
        apply_overrides({}, ["seeds=*a"])


# -- model and adapter folders --------------------------------------------------------------------
def _safetensors(path: Path, tensors: dict | None = None) -> Path:
    from safetensors.numpy import save_file

    save_file(tensors or {"w": np.zeros((4, 4), dtype=np.float32)}, str(path))
    return path


def _model(folder: Path, config: dict | None = None, tokenizer: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config or {"model_type": "llama"}))
    _safetensors(folder / "model.safetensors")
    if tokenizer:
        (folder / "tokenizer_config.json").write_text("{}")
    return folder


def _adapter(folder: Path, base: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": base, "peft_type": "LORA"}))
    _safetensors(folder / "adapter_model.safetensors")
    return folder


def _truncate(f: Path, keep: int) -> None:
    data = f.read_bytes()
    f.write_bytes(data[:keep])


def _broken(kind: str, tmp: Path) -> Path:
    """A model or adapter folder broken in one way."""
    m = tmp / "m"
    if kind == "no-config":
        _model(m)
        (m / "config.json").unlink()
    elif kind == "garbage-config":
        _model(m)
        (m / "config.json").write_text("{not json")
    elif kind == "config-list":
        _model(m)
        (m / "config.json").write_text("[1, 2]")
    elif kind == "weights-bin":
        _model(m, {"model_type": "llama", "transformers_weights": "x.bin"})
        (m / "x.bin").write_bytes(b"\x80\x04pickle")
    elif kind == "weights-outside":
        _model(m, {"model_type": "llama", "transformers_weights": "../outside.safetensors"})
        _safetensors(tmp / "outside.safetensors")
    elif kind == "only-pickle":
        _model(m)
        (m / "model.safetensors").unlink()
        (m / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    elif kind == "other-name":
        _model(m)
        (m / "model.safetensors").rename(m / "weights.safetensors")
    elif kind == "truncated":
        _model(m)
        _truncate(m / "model.safetensors", (m / "model.safetensors").stat().st_size - 10)
    elif kind == "short":
        _model(m)
        _truncate(m / "model.safetensors", 5)
    elif kind == "garbage-header":
        _model(m)
        (m / "model.safetensors").write_bytes(struct.pack("<Q", 12) + b"not a json!!" + b"\0" * 64)
    elif kind == "huge-header":
        _model(m)
        (m / "model.safetensors").write_bytes(struct.pack("<Q", 2**60) + b"{}")
    elif kind == "index-bin":
        _model(m)
        (m / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"w": "pytorch_model.bin"}}))
    elif kind == "adapter-with-bin":
        _model(tmp / "base")
        _adapter(m, str(tmp / "base"))
        (m / "adapter_model.bin").write_bytes(b"\x80\x04pickle")
    elif kind == "adapter-other-name":
        _model(tmp / "base")
        _adapter(m, str(tmp / "base"))
        (m / "adapter_model.safetensors").rename(m / "weights.safetensors")
    elif kind == "adapter-self":
        _adapter(m, str(m))
    elif kind == "adapter-on-adapter":
        _model(tmp / "base")
        _adapter(tmp / "a1", str(tmp / "base"))
        _adapter(m, str(tmp / "a1"))
    elif kind == "adapter-no-base":
        _adapter(m, "")
    elif kind == "adapter-broken-base":
        _model(tmp / "base")
        _truncate(tmp / "base" / "model.safetensors", 20)
        _adapter(m, str(tmp / "base"))
    elif kind == "a-file":
        m.write_text("x")
    else:
        raise AssertionError(kind)
    return m


MODEL_CASES = [
    ("no-config", "no config.json"),
    ("garbage-config", "config.json:1: malformed JSON"),
    ("config-list", "expected an object"),
    ("weights-bin", "'transformers_weights' names 'x.bin'"),
    ("weights-outside", "'transformers_weights' names '../outside.safetensors'"),
    ("only-pickle", "found pytorch_model.bin: pickled weights are never loaded"),
    ("other-name", "no model.safetensors weights (found weights.safetensors: without model.safetensors.index.json"),
    ("truncated", "model.safetensors: damaged safetensors file"),
    ("short", "shorter than its header"),
    ("garbage-header", "its header is not JSON"),
    ("huge-header", "its header announces"),
    ("index-bin", "names 'pytorch_model.bin', not a *.safetensors file"),
    ("adapter-with-bin", "adapter folder holding pickled weights (adapter_model.bin)"),
    ("adapter-other-name", "adapter folder without adapter_model.safetensors"),
    ("adapter-self", "base_model_name_or_path points at the adapter itself"),
    ("adapter-on-adapter", "is itself an adapter folder"),
    ("adapter-no-base", "no base_model_name_or_path"),
    ("adapter-broken-base", "base/model.safetensors: damaged safetensors file"),
    ("a-file", "is a file, expected a model folder"),
]


@pytest.mark.parametrize("kind, fragment", MODEL_CASES, ids=[k for k, _ in MODEL_CASES])
def test_broken_model_folder_is_refused_before_loading(tmp_path, kind, fragment):
    from forgetscope.models.checks import check_model_folder

    folder = _broken(kind, tmp_path)
    with pytest.raises(UserError) as e:
        check_model_folder(folder)
    assert fragment in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_a_sound_folder_passes(tmp_path):
    from forgetscope.models.checks import check_model_folder, check_tokenizer_files

    m = _model(tmp_path / "m")
    check_model_folder(m)
    check_tokenizer_files(m)
    check_model_folder(_adapter(tmp_path / "a", str(m)))


@pytest.mark.parametrize("files, fragment", [({}, "without a tokenizer"), ({"tokenizer.json": "{oops"}, "tokenizer.json:1: malformed JSON")])
def test_tokenizer_files(tmp_path, files, fragment):
    from forgetscope.models.checks import check_tokenizer_files

    m = _model(tmp_path / "m", tokenizer=False)
    for name, text in files.items():
        (m / name).write_text(text)
    with pytest.raises(UserError, match=fragment):
        check_tokenizer_files(m)


def test_weights_bypass_never_reaches_a_pickle(tmp_path, tiny_lm, monkeypatch):
    """The bypass proofs: a real model folder whose config.json names a pickle, and a real adapter
    with adapter_model.bin beside its safetensors, are refused by load_model before torch.load or
    PEFT run (any attempt to unpickle fails this test)."""
    import torch

    from forgetscope.models import load_model, save_model

    def no_unpickling(*a, **k):
        raise AssertionError("something tried to unpickle weights")

    model, tok = tiny_lm
    folder = save_model(model, tok, tmp_path / "m")
    cfg = json.loads((folder / "config.json").read_text())
    torch.save({"x": torch.zeros(1)}, folder / "x.bin")
    (folder / "config.json").write_text(json.dumps({**cfg, "transformers_weights": "x.bin"}))
    monkeypatch.setattr(torch, "load", no_unpickling)
    with pytest.raises(UserError, match="transformers_weights"):
        load_model(folder)
    (folder / "config.json").write_text(json.dumps(cfg))
    adapter = _adapter(tmp_path / "a", str(folder))
    (adapter / "adapter_model.bin").write_bytes(b"\x80\x04pickle")
    with pytest.raises(UserError, match="pickled weights"):
        load_model(adapter)


def test_self_referencing_adapter_does_not_recurse(tmp_path):
    from forgetscope.models import load_model

    m = _adapter(tmp_path / "a", str(tmp_path / "a"))
    old = sys.getrecursionlimit()
    try:
        with pytest.raises(UserError, match="points at the adapter itself"):
            load_model(m)
    finally:
        assert sys.getrecursionlimit() == old


def test_validate_checks_the_model_folders_a_config_names(tmp_path):
    """Through the CLI: `validate` reads the model folder (one line, exit 2), so does `run` before any work."""
    bad = _broken("truncated", tmp_path)
    cfg = {"study": "conjugate", "tuned": {"path": str(bad)}, "icl_if": {"per_task": 1}}
    f = write_yaml(tmp_path / "c.yaml", cfg)
    assert_one_line_error(run_cli("validate", f), "model.safetensors: damaged safetensors file", "named by tuned")
    out = tmp_path / "run"
    assert_one_line_error(run_cli("run", f, "--out", str(out)), "damaged safetensors file")
    assert not out.exists()  # refused before the run folder was made


def test_every_from_pretrained_call_says_trust_remote_code():
    """`trust_remote_code` is passed explicitly to every transformers loader forgetscope calls (a
    default can change, and some prompt interactively for remote code)."""
    import ast

    src = Path(__file__).parents[1] / "src" / "forgetscope"
    missing, calls = [], 0
    for f in src.rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("from_pretrained", "from_config")
                    and isinstance(node.func.value, ast.Name) and node.func.value.id.startswith("Auto")):
                calls += 1
                if not any(k.arg == "trust_remote_code" for k in node.keywords) and not any(k.arg is None for k in node.keywords):
                    missing.append(f"{f.relative_to(src)}:{node.lineno}")
    assert not missing, missing
    assert calls > 5


def test_convert_gguf_replace_refuses_a_folder_that_is_not_a_model(tmp_path):
    from forgetscope.models.gguf import convert_gguf

    gguf = tmp_path / "x.gguf"
    gguf.write_bytes(b"GGUF")
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with pytest.raises(UserError, match="--replace overwrites only a model folder"):
        convert_gguf(gguf, precious, replace=True)
    assert (precious / "thesis.tex").read_text() == "years of work"


def test_absurd_config_cli_one_line(tmp_path):
    f = write_yaml(tmp_path / "absurd.yaml", _cfg(finetune__checkpoints={"count": 1_000_000_000}))
    proc = run_cli("validate", f)
    assert_one_line_error(proc, "absurd.yaml", "finetune.checkpoints.count")


def test_a_pickle_beside_a_full_models_safetensors_is_ignored_with_a_notice(tmp_path, tiny_lm, monkeypatch, capsys):
    """Hub repos often ship pytorch_model.bin beside model.safetensors: the folder is accepted, the
    pickle is never read (torch.load fails this test), and a notice says it is ignored
    (docs/footguns.md). Beside an adapter's weights a pickle is refused (above)."""
    import torch

    from forgetscope.models import load_model, save_model
    from forgetscope.models.checks import check_model_folder
    from forgetscope.preflight import pickles_ignored

    model, tok = tiny_lm
    folder = save_model(model, tok, tmp_path / "m")
    torch.save({"x": torch.zeros(1)}, folder / "pytorch_model.bin")

    def no_unpickling(*a, **k):
        raise AssertionError("something tried to unpickle weights")

    monkeypatch.setattr(torch, "load", no_unpickling)
    check_model_folder(folder)
    pickles_ignored(folder)
    assert f"{folder}: pytorch_model.bin ignored: weights are loaded only from *.safetensors" in capsys.readouterr().err
    loaded, want = load_model(folder).state_dict(), model.state_dict()
    assert loaded.keys() == want.keys() and all(torch.equal(loaded[k], want[k]) for k in want)  # the safetensors weights
