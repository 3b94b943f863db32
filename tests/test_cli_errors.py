"""Bad input gets one line naming the file, line or field, exit code 2, no traceback, and leaves no
half-written stage behind."""


import pytest
from conftest import assert_one_line_error, run_cli, write_yaml


def test_malformed_yaml(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("study: trajectory\nseeds: [0, 1\nname: x\n")
    assert_one_line_error(run_cli("validate", str(f)), "bad.yaml:", "malformed YAML")


def test_unknown_key_names_field_and_line(tmp_path, smoke_config):
    smoke_config["finetune"]["stepz"] = 3
    f = write_yaml(tmp_path / "c.yaml", smoke_config)
    proc = run_cli("validate", f)
    line = next(i for i, ln in enumerate(open(f), 1) if "stepz" in ln)
    assert_one_line_error(proc, f"c.yaml:{line}", "finetune.stepz", "unknown key")


def test_wrong_type_and_bad_value(tmp_path, smoke_config):
    smoke_config["restore"]["restorers"] = ["lm_training", {"name": "interpolation", "ratio": 1.5}]
    assert_one_line_error(run_cli("validate", write_yaml(tmp_path / "c.yaml", smoke_config)), "restore.restorers.1",
                          "interpolation", "ratio", "less than or equal to 1")
    smoke_config["restore"]["restorers"] = ["lm_training", "unlearning"]
    assert_one_line_error(run_cli("validate", write_yaml(tmp_path / "c.yaml", smoke_config)), "unknown restorer 'unlearning'",
                          "lm_training, interpolation")
    smoke_config["restore"]["restorers"] = ["lm_training", "lm_training"]
    assert_one_line_error(run_cli("validate", write_yaml(tmp_path / "c.yaml", smoke_config)), "same condition")
    del smoke_config["restore"]["restorers"]
    smoke_config["finetune"]["train"]["lr"] = "fast"
    assert_one_line_error(run_cli("validate", write_yaml(tmp_path / "c.yaml", smoke_config)), "finetune.train.lr")


@pytest.mark.parametrize("study, old, new", [
    ("trajectory", {"finetune": {"lr": 1e-3}}, "finetune.train.lr"),
    ("trajectory", {"base": {"pretrain": {"steps": 3}}}, "base.train"),
    ("trajectory", {"restore": {"interpolation": [0.5]}}, "restore.restorers"),
    ("regression", {"pretrain": {"steps": 3}}, "base.train"),
    ("regression", {"model": {"layers": 1}}, "base.model"),
    ("regression", {"finetune": {"steps": 3}}, "finetune.train.steps"),
    ("conjugate", {"seed": 3, "fact_world": {"run": "x"}}, "seeds"),
    ("conjugate", {"fact_world": {"run": "x", "seeds": [0]}}, "seeds"),
])
def test_an_old_key_names_its_new_place(tmp_path, study, old, new):
    """A key of the config shape before schema 2 is an error that says where it lives now, with its line."""
    f = write_yaml(tmp_path / "old.yaml", {"study": study, **old})
    proc = run_cli("validate", f)
    assert_one_line_error(proc, "old.yaml:", "has moved", f"write {new}")


def test_unknown_study_and_missing_file(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("study: trajectoy\n")
    assert_one_line_error(run_cli("validate", str(f)), "c.yaml:1", "'trajectoy' is unknown", "trajectory")
    assert_one_line_error(run_cli("run", str(tmp_path / "nope.yaml")), "nope.yaml", "no such file")


def test_bad_override(tmp_path, smoke_config):
    f = write_yaml(tmp_path / "c.yaml", smoke_config)
    assert_one_line_error(run_cli("validate", f, "--set", "finetune.train.steps"), "KEY=VALUE")
    assert_one_line_error(run_cli("validate", f, "--set", "finetune.train.steps=-3"), "finetune.train.steps")


def test_model_folder_that_is_not_a_model(tmp_path, smoke_config):
    folder = tmp_path / "notamodel"
    folder.mkdir()
    (folder / "README.txt").write_text("hello")
    cfg = {**smoke_config, "base": {"kind": "pretrained", "path": str(folder)}}
    data = tmp_path / "d.jsonl"
    data.write_text('{"text": "x"}\n')
    sft = tmp_path / "s.jsonl"
    sft.write_text('{"prompt": "a", "completion": "b"}\n')
    probes = tmp_path / "p.jsonl"
    probes.write_text('{"id": "a", "probe": "p", "kind": "exact", "prompt": "q", "answer": "x"}\n')
    cfg["finetune"]["data"] = str(sft)
    cfg["restore"]["data"] = str(data)
    cfg["eval"] = {"probes": str(probes), "heldout_text": str(data), "pattern_prompts": str(data)}
    out = tmp_path / "run"
    proc = run_cli("run", write_yaml(tmp_path / "c.yaml", cfg), "--out", str(out), "-q")
    assert_one_line_error(proc, "notamodel", "not a model folder")
    assert not list(out.glob("seed-0/*/_done.json"))
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]


def test_malformed_jsonl_data(tmp_path, smoke_config, tiny_lm):
    from forgetscope.models import save_model

    model, tok = tiny_lm
    save_model(model, tok, tmp_path / "m")
    sft = tmp_path / "s.jsonl"
    sft.write_text('{"prompt": "a", "completion": "b"}\n{"prompt": "a", "completion": \n')
    ok = tmp_path / "d.jsonl"
    ok.write_text('{"text": "alice was born in paris ."}\n' * 8)  # more than one restoration block
    probes = tmp_path / "p.jsonl"
    probes.write_text('{"id": "a", "probe": "p", "kind": "exact", "prompt": "q", "answer": "x"}\n')
    cfg = {**smoke_config, "base": {"kind": "pretrained", "path": str(tmp_path / "m")}}
    cfg["finetune"]["data"] = str(sft)
    cfg["restore"]["data"] = str(ok)
    cfg["eval"] = {"probes": str(probes), "heldout_text": str(ok), "pattern_prompts": str(ok)}
    out = tmp_path / "run"
    proc = run_cli("run", write_yaml(tmp_path / "c.yaml", cfg), "--out", str(out), "-q")
    assert_one_line_error(proc, "s.jsonl:2", "malformed JSON")
    assert not (out / "seed-0" / "3_finetune" / "_done.json").exists()
    # a missing field is named too
    sft.write_text('{"prompt": "a", "completion": "b"}\n{"prompt": "a"}\n')
    proc = run_cli("run", write_yaml(tmp_path / "c.yaml", cfg), "--out", str(out), "-q")
    assert_one_line_error(proc, "s.jsonl:2", "missing field 'completion'")


def test_resuming_with_another_config_is_refused(tmp_path, smoke_config):
    from forgetscope.config import dump_yaml
    from forgetscope.studies.registry import STUDIES

    out = tmp_path / "run"
    out.mkdir()
    f = write_yaml(tmp_path / "c.yaml", smoke_config)
    ft = smoke_config["finetune"]
    other = STUDIES.get("trajectory").config.model_validate({**smoke_config, "finetune": {**ft, "train": {**ft["train"], "lr": 0.002}}})
    (out / "config.yaml").write_text(dump_yaml(other))  # what a run of another config leaves
    assert_one_line_error(run_cli("run", f, "--out", str(out), "-q"), "different config (it differs in finetune;")
    (out / "config.yaml").write_text("study: trajectory\nname: other\n")  # not what forgetscope writes
    assert_one_line_error(run_cli("run", f, "--out", str(out), "-q"), "config.yaml: damaged or written by another forgetscope version")


@pytest.mark.parametrize("cmd", [["--help"], ["run", "--help"], ["validate", "--help"], ["report", "--help"], ["demo", "--help"]])
def test_help(cmd):
    proc = run_cli(*cmd)
    assert proc.returncode == 0 and "Usage" in proc.stdout


def test_the_entry_point_in_a_fresh_interpreter(tmp_path):
    """What the tests run in their own process (`main` with an argv) is what `python -m forgetscope`
    runs: the help, a usage error and a bad config, each in a real process, exit codes included."""
    proc = run_cli("run", "--help", process=True)
    assert proc.returncode == 0 and "Usage" in proc.stdout
    assert_one_line_error(run_cli("run", process=True), "error:", "Missing argument 'CONFIG'", "forgetscope run --help")
    f = tmp_path / "c.yaml"
    f.write_text("study: trajectoy\n")
    assert_one_line_error(run_cli("validate", str(f), process=True), "c.yaml:1", "'trajectoy' is unknown")


def test_partial_section_keeps_its_documented_defaults(tmp_path):
    """Setting one key of a section leaves the section's other defaults as documented, not the bare
    class defaults (the trajectory default is `finetune.train: {steps: 600, lr: 2e-3, max_length: 96}`,
    the tiny base `model: {layers: 3, hidden: 96}`, the regression fine-tuning `lr: 1e-4`)."""
    from forgetscope.studies.registry import load_config
    from forgetscope.studies.regression.config import RegressionConfig
    from forgetscope.studies.trajectory.config import TrajectoryConfig

    f = write_yaml(tmp_path / "t.yaml", {"study": "trajectory", "finetune": {"train": {"lr": 1e-3}}})
    _, cfg = load_config(f, ["base.model.hidden=64", "restore.train.lr=5e-4"])
    default = TrajectoryConfig()
    ft, dft = cfg.finetune.train, default.finetune.train
    assert (ft.lr, ft.steps, ft.max_length) == (1e-3, dft.steps, dft.max_length)
    assert (cfg.base.model.hidden, cfg.base.model.layers) == (64, default.base.model.layers)
    assert cfg.base.train == default.base.train
    assert (cfg.restore.train.lr, cfg.restore.train.steps) == (5e-4, default.restore.train.steps)

    f = write_yaml(tmp_path / "r.yaml", {"study": "regression", "finetune": {"train": {"steps": 12}}, "base": {"train": {"steps": 30}}})
    _, reg = load_config(f)
    rdefault = RegressionConfig()
    assert reg.finetune.train.model_copy(update={"steps": 400}) == rdefault.finetune.train
    assert reg.base.train.model_copy(update={"steps": 2500}) == rdefault.base.train
    assert reg.base.model == rdefault.base.model and reg.base.curriculum == rdefault.base.curriculum

    # a section of another kind takes nothing from the default's kind (no tiny `model`/`pretrain` keys)
    files = {"finetune": {"data": "sft.jsonl", "train": {"steps": 5}}, "restore": {"data": "text.jsonl"},
             "eval": {"probes": "p.jsonl", "heldout_text": "h.jsonl", "pattern_prompts": "m.jsonl"}}
    f = write_yaml(tmp_path / "p.yaml", {"study": "trajectory", "base": {"kind": "pretrained", "path": "m"}, **files})
    _, own = load_config(f)
    assert own.base.kind == "pretrained" and own.base.path == "m"
    assert (own.finetune.train.steps, own.finetune.train.lr) == (5, default.finetune.train.lr)



@pytest.mark.parametrize(("args", "fragments"), [
    (["run"], ["Missing argument 'CONFIG'", "forgetscope run --help"]),
    (["run", "c.yaml", "--bogus"], ["No such option: --bogus", "forgetscope run --help"]),
    (["validate", "c.yaml", "--set"], ["'--set' requires an argument"]),
    (["nosuch"], ["No such command 'nosuch'"]),
])
def test_usage_errors_are_one_line(args, fragments):
    """typer/click usage errors follow the one-line rule too: exit 2, one line, no usage box."""
    assert_one_line_error(run_cli(*args), "error:", *fragments)


def test_a_set_mistake_names_the_set_argument(tmp_path, smoke_config):
    """An override's error is the override's, not the YAML line it replaced; a misspelt key gets the
    close one; δ's bound says δ is a fraction."""
    f = write_yaml(tmp_path / "c.yaml", smoke_config)
    proc = run_cli("validate", f, "--set", "finetune.train.lrr=1e-3")
    assert_one_line_error(proc, "--set 'finetune.train.lrr=1e-3'", "field 'finetune.train.lrr'", "did you mean 'lr'?")
    assert "c.yaml" not in proc.stderr
    assert_one_line_error(run_cli("validate", f, "--set", "analysis.delta=5"), "--set 'analysis.delta=5'", "δ is a fraction: 0.05 = 5 points")
    assert_one_line_error(run_cli("validate", f, "--set", "eval={probs: x.jsonl}"), "--set 'eval={probs: x.jsonl}'",
                          "field 'eval.probs'", "did you mean 'probes'?")
    smoke_config["eval"] = {**smoke_config.get("eval", {}), "probs": "x.jsonl"}  # in the file: its line, and the hint too
    f = write_yaml(tmp_path / "c.yaml", smoke_config)
    line = next(i for i, ln in enumerate(open(f), 1) if "probs" in ln)
    assert_one_line_error(run_cli("validate", f), f"c.yaml:{line}", "did you mean 'probes'?")


def test_validate_lists_every_problem_at_once(tmp_path, smoke_config):
    """Six missing paths: six lines, one run; the base folder's problem once, though two checks meet it."""
    f = write_yaml(tmp_path / "c.yaml", smoke_config)
    sets = [f"finetune.data={tmp_path}/a.jsonl", f"restore.data={tmp_path}/b.jsonl", f"eval.probes={tmp_path}/c.jsonl",
            f"eval.heldout_text={tmp_path}/d.jsonl", f"eval.pattern_prompts={tmp_path}/e.jsonl", f"base={{kind: pretrained, path: {tmp_path}/m}}"]
    proc = run_cli("validate", f, *[a for s in sets for a in ("--set", s)])
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 6, proc.stderr
    assert all(ln.startswith("error: ") for ln in lines)
    assert sum("no such model folder" in ln for ln in lines) == 1
    for field, name in [("finetune.data", "a"), ("restore.data", "b"), ("eval.probes", "c"), ("eval.heldout_text", "d"),
                        ("eval.pattern_prompts", "e")]:
        assert any(ln.startswith(f"error: {field}: ") and f"{name}.jsonl: no such data file" in ln for ln in lines), proc.stderr


def test_text_shorter_than_one_training_block_is_refused_before_compute(tmp_path, smoke_config, tiny_lm):
    """LM training packs text into blocks of train.max_length tokens: restoration text (or text-row
    fine-tuning data) that holds less than one is refused by validate, naming the block, not after
    the base, fine-tuning and evaluation stages ran (the tiny model's tokenizer: one token per word)."""
    from forgetscope.models import save_model

    model, tok = tiny_lm
    save_model(model, tok, tmp_path / "m")
    short = tmp_path / "short.jsonl"
    short.write_text('{"text": "alice was born in paris"}\n')  # 5 words and an EOS: 6 tokens
    one_word = tmp_path / "one.jsonl"
    one_word.write_text('{"text": "' + "x" * 300_000 + '"}\n')  # one token
    enough = tmp_path / "enough.jsonl"
    enough.write_text('{"text": "alice was born in paris"}\n' * 8)  # 48 tokens
    sft = tmp_path / "s.jsonl"
    sft.write_text('{"prompt": "a", "completion": "b"}\n')
    probes = tmp_path / "p.jsonl"
    probes.write_text('{"id": "a", "probe": "p", "kind": "exact", "prompt": "q", "answer": "x"}\n')
    cfg = {**smoke_config, "base": {"kind": "pretrained", "path": str(tmp_path / "m")}}
    cfg["finetune"]["data"], cfg["restore"]["data"] = str(sft), str(enough)
    cfg["eval"] = {"probes": str(probes), "heldout_text": str(enough), "pattern_prompts": str(enough)}
    f = write_yaml(tmp_path / "c.yaml", cfg)
    assert run_cli("validate", f).returncode == 0
    for data, n in ((short, 6), (one_word, 2)):
        proc = run_cli("validate", f, "--set", f"restore.data={data}")
        assert_one_line_error(proc, "restore.data:", data.name, f"the texts hold {n} tokens, fewer than one training block of 32")
    proc = run_cli("validate", f, "--set", f"finetune.data={short}", "--set", "finetune.train.max_length=16")
    assert_one_line_error(proc, "finetune.data:", "the texts hold 6 tokens, fewer than one training block of 16")
    proc = run_cli("validate", f, "--set", f"finetune.data={enough}", "--set", "finetune.train.max_length=16")
    assert proc.returncode == 0, proc.stderr


def test_every_field_at_fault_is_a_line(tmp_path, smoke_config):
    """A config with four wrong fields: four lines, one run; a union's members' complaints about one
    field are one line saying what each would take."""
    smoke_config["finetune"]["train"]["lrr"] = 1e-3
    smoke_config["analysis"] = {**smoke_config.get("analysis", {}), "delta": 5}
    f = write_yaml(tmp_path / "c.yaml", smoke_config)
    proc = run_cli("validate", f, "--set", "finetune.data=3", "--set", "base.model.hiden=3")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 4, proc.stderr
    text = "\n".join(lines)
    for fragment in ("field 'finetune.train.lrr': unknown key; did you mean 'lr'?", "δ is a fraction",
                     "--set 'finetune.data=3': field 'finetune.data': Input should be a valid string, or a valid dictionary",
                     "--set 'base.model.hiden=3': field 'base.model.hiden'"):
        assert fragment in text, text
