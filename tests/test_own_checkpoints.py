"""A real client: checkpoints written by TRL's SFTTrainer (full weights and a PEFT LoRA adapter) on a
tiny Llama built from a config, studied with `finetune.checkpoints_from` without re-training; the
per-checkpoint probe scores equal `forgetscope eval` on the same folders; bad checkpoints are a
one-line error (exit 2) before any compute, leaving nothing marked done."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import assert_one_line_error, run_cli, write_yaml

DATA = Path(__file__).parents[1] / "examples" / "smollm2" / "data"
CHATML = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
          "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
          "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def chatml_tokenizer(vocab_size: int = 500):
    """A small byte-level BPE with ChatML special tokens, trained on the SmolLM2 example's data."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    texts = [line for f in ("sft.jsonl", "restore.jsonl", "probes-cpu.jsonl") for line in (DATA / f).read_text().splitlines()]
    bpe.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                  pad_token="<|im_end|>", unk_token="<|endoftext|>")
    tok.chat_template = CHATML
    return tok


def tiny_llama(tok, hidden: int = 32, seed: int = 0):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256, tie_word_embeddings=True,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(seed)
    return LlamaForCausalLM(cfg)


def head(src: Path, dst: Path, n: int, keep=lambda r: True) -> str:
    rows = [json.loads(line) for line in src.read_text().splitlines()]
    dst.write_text("".join(json.dumps(r) + "\n" for r in [r for r in rows if keep(r)][:n]))
    return str(dst)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The base model folder and the data files a user would have."""
    from forgetscope.models import save_model

    root = tmp_path_factory.mktemp("own")
    tok = chatml_tokenizer()
    save_model(tiny_llama(tok), tok, root / "base")
    probes = [json.loads(line) for line in (DATA / "probes-cpu.jsonl").read_text().splitlines()]
    by_probe: dict[str, list] = {}
    for r in probes:
        by_probe.setdefault(r["probe"], []).append(r)
    keep = by_probe["facts_cloze"][:10] + by_probe["facts_chat"][:4] + by_probe["icl"][:4]
    (root / "probes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in keep))
    return {
        "root": root, "base": root / "base", "tok": tok,
        "sft": head(DATA / "sft.jsonl", root / "sft.jsonl", 16),
        "probes": str(root / "probes.jsonl"),
        "restore": head(DATA / "restore.jsonl", root / "restore.jsonl", 24),
        "heldout": head(DATA / "heldout.jsonl", root / "heldout.jsonl", 3),
        "pattern": head(DATA / "pattern_prompts.jsonl", root / "pattern.jsonl", 2),
    }


def trl_finetune(files, out: Path, *, lora: bool):
    """TRL's SFTTrainer, as a user runs it: 4 steps, a checkpoint every 2 (checkpoint-2, checkpoint-4)."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    rows = [json.loads(line) for line in Path(files["sft"]).read_text().splitlines()]
    data = Dataset.from_list([{"prompt": r["messages"][:-1], "completion": r["messages"][-1:]} for r in rows])
    tok = AutoTokenizer.from_pretrained(files["base"])
    model = AutoModelForCausalLM.from_pretrained(files["base"], dtype=torch.float32)
    peft_config = None
    if lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM")
    args = SFTConfig(output_dir=str(out), max_steps=4, save_steps=2, save_only_model=True, per_device_train_batch_size=2,
                     learning_rate=5e-3, max_length=64, logging_steps=1, report_to="none", seed=0, use_cpu=True,
                     dataloader_num_workers=0, disable_tqdm=True)
    trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tok, peft_config=peft_config)
    trainer.train()
    # accelerate keeps one process-wide state; the Trainer set it up with its own mixed precision, and
    # forgetscope's training in this same test process would be refused by it (a user's TRL run is
    # another process): start the next Accelerator afresh
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    return trainer


@pytest.fixture(scope="module")
def trl_full(files):
    out = files["root"] / "trl-full"
    trainer = trl_finetune(files, out, lora=False)
    return out, trainer


@pytest.fixture(scope="module")
def trl_lora(files):
    out = files["root"] / "trl-lora"
    trl_finetune(files, out, lora=True)
    return out


def config(files, checkpoints_from, **eval_extra) -> dict:
    return {
        "study": "trajectory", "name": "own", "seeds": [0],
        "base": {"kind": "pretrained", "path": str(files["base"])},
        "finetune": {"checkpoints_from": checkpoints_from},
        "restore": {"data": files["restore"], "train": {"steps": 2, "batch_size": 4, "max_length": 32}, "restorers": ["lm_training"]},
        "eval": {"probes": files["probes"], "heldout_text": files["heldout"], "pattern_prompts": files["pattern"],
                 "batch_size": 16, "max_new_tokens": 4, "pattern_max_new_tokens": 4, **eval_extra},
        "analysis": {"primary_probe": "facts_cloze", "n_bootstrap": 200},
        "runtime": {"workers": 1},
    }


def assert_eval_matches(run: Path, step: int, folder: Path, probes: str, tmp_path: Path) -> None:
    """`forgetscope eval` on the checkpoint folder gives the scores the trajectory run recorded."""
    out = tmp_path / f"eval-{step}"
    proc = run_cli("eval", str(folder), "--probes", probes, "--max-new-tokens", "4", "--batch-size", "16", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "facts_cloze" in proc.stdout
    mine = pd.read_parquet(out / "items.parquet").set_index("item_id").sort_index()
    study = pd.read_parquet(run / "results" / "items.parquet")
    study = study[(study["condition"] == "checkpoint") & (study["step"] == step)].set_index("item_id").sort_index()
    assert list(mine.index) == list(study.index)
    assert (mine["score"] == study["score"]).all()
    assert (mine["output"] == study["output"]).all()
    choice = study["kind"] == "choice"
    assert (mine.loc[choice, "answer_logprob"] - study.loc[choice, "answer_logprob"]).abs().max() < 1e-5


def test_trl_checkpoints_are_studied_without_retraining(files, trl_full, tmp_path):
    out, _ = trl_full
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    run = tmp_path / "run"
    cfg = config(files, str(out))
    cfg["runtime"]["report_to"] = ["tensorboard"]
    proc = run_cli("run", write_yaml(tmp_path / "c.yaml", cfg), "--out", str(run), "-q")
    assert proc.returncode == 0, proc.stderr
    record = json.loads((run / "seed-0" / "3_finetune" / "_done.json").read_text())
    assert record["checkpoints"] == [2, 4] and record["trained"] is False
    assert [Path(c["path"]).name for c in record["sources"]] == ["checkpoint-2", "checkpoint-4"]
    assert not (run / "seed-0" / "3_finetune" / "checkpoints").exists()  # nothing was trained or copied
    summary = json.loads((run / "summary.json").read_text())
    assert [c["step"] for c in summary["checkpoints"]] == [2, 4]
    items = pd.read_parquet(run / "results" / "items.parquet")
    assert sorted(items.loc[items["condition"] == "restored", "step"].unique()) == [0, 2, 4]
    for step in (2, 4):
        assert_eval_matches(run, step, out / f"checkpoint-{step}", files["probes"], tmp_path)
    # runtime.report_to: tensorboard: each checkpoint's probe scores against step, read back from the event file
    logged = tensorboard_scalars(run / "tracking" / "tensorboard")
    cloze = summary["probes"]["facts_cloze"]
    for tag, base, key in (("facts_cloze/checkpoint", "base", "score"), ("facts_cloze/restored", "restored_base", "restored")):
        assert [s for s, _ in logged[tag]] == [0, 2, 4]
        assert [v for _, v in logged[tag]] == pytest.approx([cloze[base]] + [c[key] for c in cloze["checkpoints"]], abs=1e-6)


def tensorboard_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_training_losses_go_to_tensorboard(tmp_path):
    """Losses of every step, the mean over seeds, written as scalars TensorBoard reads back."""
    from types import SimpleNamespace

    from forgetscope import tracking

    log = pd.DataFrame({"seed": [0, 0, 1, 1], "phase": ["finetune"] * 4, "step": [1, 2, 1, 2], "loss": [2.0, 1.0, 4.0, 3.0]})
    points = list(tracking.run_points({"train_log": log}, SimpleNamespace(probes={})))
    assert points == [("train/finetune_loss", 1, 3.0), ("train/finetune_loss", 2, 2.0)]
    tracking.report(["tensorboard"], tmp_path, "t", {}, points)
    assert tensorboard_scalars(tmp_path / "tracking" / "tensorboard") == {"train/finetune_loss": [(1, 3.0), (2, 2.0)]}


def test_trl_lora_adapters_are_studied_on_the_base(files, trl_lora, tmp_path):
    assert (trl_lora / "checkpoint-4" / "adapter_config.json").exists()
    run = tmp_path / "run"
    proc = run_cli("run", write_yaml(tmp_path / "c.yaml", config(files, str(trl_lora))), "--out", str(run), "-q")
    assert proc.returncode == 0, proc.stderr
    record = json.loads((run / "seed-0" / "3_finetune" / "_done.json").read_text())
    assert [c["adapter"] for c in record["sources"]] == [True, True]
    base = pd.read_parquet(run / "results" / "items.parquet")
    base = base[(base["condition"] == "checkpoint")]
    # the adapter moved the model: some log-likelihood differs from the base's
    lp = base.pivot_table(index="item_id", columns="step", values="answer_logprob")
    assert (lp[4] - lp[0]).abs().max() > 1e-4
    assert_eval_matches(run, 4, trl_lora / "checkpoint-4", files["probes"], tmp_path)


def test_our_completion_loss_masks_as_trl_does(files, trl_full):
    """`finetune.loss: completion` gives the token ids and loss mask TRL's SFTTrainer builds for the
    same prompt/completion chats (an independent implementation)."""
    from forgetscope.data import sft_segments
    from forgetscope.training import SFTBatches

    _, trainer = trl_full
    rows = [json.loads(line) for line in Path(files["sft"]).read_text().splitlines()]
    tok = files["tok"]
    ours = SFTBatches(sft_segments(rows, tok, "sft", "completion"), tok, max_length=64, seed=0)
    assert ours.dropped == len(rows) - len(trainer.train_dataset) > 0  # both drop chats whose answer the cut removed
    for i, ex in enumerate(trainer.train_dataset):
        ids, labels = ours.examples[i]
        assert ids == ex["input_ids"][:64]
        assert labels == ex["labels"][:64]  # TRL folds its completion mask into labels (-100 off the loss)
        assert any(t == -100 for t in labels) and any(t != -100 for t in labels)


# -- bad input: one line, exit 2, before any compute, nothing marked done ---------------------------------
def assert_refused(tmp_path, cfg, *fragments, env=None):
    run = tmp_path / "run"
    proc = run_cli("run", write_yaml(tmp_path / "bad.yaml", cfg), "--out", str(run), "-q", env=env)
    assert_one_line_error(proc, *fragments)
    assert not run.exists()  # refused before the run folder was made: nothing can be marked done


def test_a_folder_without_checkpoints_is_refused(files, tmp_path):
    (tmp_path / "empty").mkdir()
    assert_refused(tmp_path, config(files, str(tmp_path / "empty")), "finetune.checkpoints_from", "no checkpoint-N folders")


def test_a_checkpoint_of_another_architecture_is_refused(files, tmp_path):
    from forgetscope.models import save_model

    save_model(tiny_llama(files["tok"], hidden=48), files["tok"], tmp_path / "ckpts" / "checkpoint-3")
    assert_refused(tmp_path, config(files, str(tmp_path / "ckpts")), "checkpoint-3", "'hidden_size' is 48")


def test_a_checkpoint_with_another_tokenizer_is_refused(files, trl_full, tmp_path):
    out, _ = trl_full
    bad = tmp_path / "ckpts" / "checkpoint-2"
    shutil.copytree(out / "checkpoint-2", bad)
    other = chatml_tokenizer(vocab_size=500)
    other.add_special_tokens({"additional_special_tokens": ["<|tool|>"]})
    for f in bad.glob("tokenizer*"):
        f.unlink()
    other.save_pretrained(bad)
    assert_refused(tmp_path, config(files, str(tmp_path / "ckpts")), "checkpoint-2", "tokenizer differs")


def test_an_adapter_for_another_base_is_refused(files, trl_lora, tmp_path):
    bad = tmp_path / "ckpts" / "checkpoint-2"
    shutil.copytree(trl_lora / "checkpoint-2", bad)
    acfg = json.loads((bad / "adapter_config.json").read_text())
    acfg["base_model_name_or_path"] = "someone/another-model"
    (bad / "adapter_config.json").write_text(json.dumps(acfg))
    assert_refused(tmp_path, config(files, str(tmp_path / "ckpts")), "an adapter for someone/another-model")


def test_an_adapter_that_does_not_fit_the_base_is_refused(files, tmp_path):
    """It names this base, but was trained on a wider model: its tensors do not fit."""
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(tiny_llama(files["tok"], hidden=48), LoraConfig(r=4, target_modules=["q_proj"], task_type="CAUSAL_LM"))
    folder = tmp_path / "ckpts" / "checkpoint-5"
    model.save_pretrained(folder)
    acfg = json.loads((folder / "adapter_config.json").read_text())
    acfg["base_model_name_or_path"] = str(files["base"])
    (folder / "adapter_config.json").write_text(json.dumps(acfg))
    assert_refused(tmp_path, config(files, str(tmp_path / "ckpts")), "does not fit the base's")


def test_an_unknown_revision_offline_is_refused(files, tmp_path, monkeypatch):
    # an empty hub cache, offline, in this process (as test_hub_revisions_offline_from_the_cache sets it):
    # huggingface_hub reads its folders once, at import, so the variables alone would need a fresh interpreter
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    cfg = config(files, {"hub": "nobody/no-such-model", "revisions": ["step100"]})
    assert_refused(tmp_path, cfg, "finetune.checkpoints_from", "nobody/no-such-model@step100")


def test_a_misspelled_lm_eval_task_is_refused(files, trl_full, tmp_path):
    out, _ = trl_full
    assert_refused(tmp_path, config(files, str(out), lm_eval_tasks=["arc_easyy"]), "eval.lm_eval_tasks", "'arc_easyy'",
                   "did you mean 'arc_easy'")


def local_task(folder: Path, name: str = "my_facts") -> Path:
    """An lm-eval task as a user writes one: a YAML beside its own data (no download)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [json.loads(line) for line in (DATA / "probes-cpu.jsonl").read_text().splitlines()]
    docs = [{"question": r["prompt"], "choices": r["choices"], "answer": r["answer"]} for r in rows if r["probe"] == "facts_cloze"][:16]
    (folder / f"{name}.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (folder / f"{name}.yaml").write_text(
        f"task: {name}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {folder / f'{name}.jsonl'}\n"
        "test_split: test\noutput_type: multiple_choice\ndoc_to_text: '{{question}}'\ndoc_to_choice: '{{choices}}'\n"
        "doc_to_target: '{{answer}}'\ntarget_delimiter: ''\nmetric_list:\n  - metric: acc\n  - metric: acc_norm\nmetadata:\n  version: 1\n")
    return folder


def test_a_local_lm_eval_task_is_labelled_like_any_probe(files, trl_full, tmp_path):
    out, _ = trl_full
    tasks = local_task(tmp_path / "tasks")
    cfg = config(files, str(out), lm_eval_tasks=[{"name": "my_facts", "metric": "acc", "num_fewshot": 0}],
                 lm_eval_include_path=[str(tasks)])
    run = tmp_path / "run"
    # in this process: the json task's arrow cache goes where conftest.py points HF_DATASETS_CACHE
    proc = run_cli("run", write_yaml(tmp_path / "c.yaml", cfg), "--out", str(run), "-q")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((run / "summary.json").read_text())
    task = summary["probes"]["my_facts"]
    assert task["source"] == "lm_eval" and task["metric"] == "acc"
    assert [c["step"] for c in task["checkpoints"]] == [2, 4]
    assert all(c["label"] in ("none", "pseudo", "actual", "uncertain") and c["label_ci"] for c in task["checkpoints"])
    # the decomposition's score is the mean of lm-eval's per-document acc, which is lm-eval's own aggregate
    docs = pd.read_parquet(run / "results" / "lm_eval.parquet")
    acc = docs[(docs["probe"] == "my_facts") & (docs["metric"] == "acc") & (docs["condition"] == "checkpoint")]
    agg = {(r["condition"], r["step"]): r for r in summary["lm_eval"] if r["task"] == "my_facts" and r["metric"] == "acc"}
    for c in task["checkpoints"]:
        assert c["score"] == pytest.approx(acc[acc["step"] == c["step"]]["score"].mean(), abs=1e-6)
        assert agg[("checkpoint", c["step"])]["value"] == pytest.approx(c["score"], abs=1e-6)
        assert agg[("checkpoint", c["step"])]["n"] == 16 and agg[("checkpoint", c["step"])]["stderr_by_seed"][0] > 0
    assert {r["metric"] for r in summary["lm_eval"]} >= {"acc", "acc_norm"}
    report = (run / "report.html").read_text()
    assert "my_facts" in report and "lm-eval, acc" in report


def test_changed_analysis_or_evaluation_reuses_finished_stages(files, trl_full, tmp_path):
    """A changed delta recomputes nothing but the analysis; a changed evaluation setting runs the
    evaluation and restoration again, not the fine-tuning stage; a changed fine-tuning is refused."""
    out, _ = trl_full
    run = tmp_path / "run"
    assert run_cli("run", write_yaml(tmp_path / "c.yaml", config(files, str(out))), "--out", str(run), "-q").returncode == 0

    def finished() -> dict[str, str]:
        return {p.parent.name: json.loads(p.read_text())["finished"] + p.read_text() for p in (run / "seed-0").glob("*/_done.json")}

    first = finished()
    proc = run_cli("reanalyze", str(run), "--set", "analysis.delta=0.3", "-q")
    assert proc.returncode == 0, proc.stderr
    assert finished() == first
    assert json.loads((run / "summary.json").read_text())["delta"] == 0.3
    proc = run_cli("reanalyze", str(run), "--set", "eval.max_new_tokens=3", "-q")
    assert proc.returncode == 0, proc.stderr
    again = finished()
    assert again["3_finetune"] == first["3_finetune"]
    assert again["4_evaluate"] != first["4_evaluate"] and again["6_restore"] != first["6_restore"]
    manifest = json.loads((run / "manifest.json").read_text())
    assert [c["sections"] for c in manifest["config_changes"]] == [["analysis"], ["eval"]]
    proc = run_cli("reanalyze", str(run), "--set", "finetune.loss=all", "-q")
    assert_one_line_error(proc, "differs in finetune")


def test_compare_two_models(files, trl_full, tmp_path):
    """`forgetscope compare BASE TUNED`: the one-checkpoint trajectory, run through the study registry."""
    out, _ = trl_full
    run = tmp_path / "cmp"
    proc = run_cli("compare", str(files["base"]), str(out / "checkpoint-4"), "--probes", files["probes"], "--restore-data",
                   files["restore"], "--restore-steps", "2", "--out", str(run), "-q")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((run / "trajectory" / "summary.json").read_text())
    cloze = summary["probes"]["facts_cloze"]
    assert [c["step"] for c in cloze["checkpoints"]] == [1]
    assert summary["restorers"][0]["name"] == "lm_training"
    row = next(line for line in proc.stdout.splitlines() if "facts_cloze" in line)
    assert cloze["checkpoints"][0]["label"] in row and cloze["checkpoints"][0]["label_ci"] in row
    assert (run / "trajectory" / "report.html").exists()


def test_text_rows_fine_tune_as_continued_pretraining(files, tmp_path):
    """`text` rows as fine-tuning data: packed LM training (every token in the loss); restoration data
    from a `datasets` source (json builder, a split slice)."""
    cfg = config(files, None)
    del cfg["finetune"]["checkpoints_from"]
    cfg["finetune"] = {"data": files["restore"], "train": {"steps": 2, "batch_size": 2, "lr": 1e-3, "max_length": 32},
                       "checkpoints": {"steps": [2]}}
    cfg["restore"]["data"] = {"path": "json", "data_files": {"train": files["restore"]}, "split": "train[:12]"}
    run = tmp_path / "run"
    proc = run_cli("run", write_yaml(tmp_path / "c.yaml", cfg), "--out", str(run), "-q")
    assert proc.returncode == 0, proc.stderr
    log = pd.read_parquet(run / "results" / "train_log.parquet")
    assert list(log["step"]) == [1, 2] and log["loss"].notna().all()
    assert (run / "seed-0" / "3_finetune" / "checkpoints" / "step-000002").is_dir()


def fake_hub_cache(cache: Path, repo: str, revisions: dict[str, Path]) -> None:
    """A Hugging Face hub cache holding `repo` at named revisions, as a download would leave it."""
    import hashlib

    root = cache / f"models--{repo.replace('/', '--')}"
    for rev, folder in revisions.items():
        sha = hashlib.sha1(rev.encode()).hexdigest()
        shutil.copytree(folder, root / "snapshots" / sha)
        (root / "refs").mkdir(parents=True, exist_ok=True)
        (root / "refs" / rev).write_text(sha)


def test_hub_revisions_offline_from_the_cache(files, trl_full, tmp_path, monkeypatch):
    """{hub, revisions}: steps from the revision names, checked and loaded from the local hub cache."""
    import torch

    from forgetscope.models import ModelSpec
    from forgetscope.models.checkpoints_from import HubRevisions, check_against_base, find_checkpoints

    out, _ = trl_full
    cache = tmp_path / "hub"
    fake_hub_cache(cache, "someone/tuned", {"step2": out / "checkpoint-2", "step4": out / "checkpoint-4"})
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    found = find_checkpoints(HubRevisions(hub="someone/tuned", revisions=["step4", {"step": 2, "revision": "step2"}]))
    assert [(c.step, c.revision) for c in found] == [(2, "step2"), (4, "step4")]
    base = ModelSpec(path=str(files["base"]))
    check_against_base(found, base)
    from_hub = base.load_model(path="someone/tuned", revision="step4").state_dict()
    from_folder = base.load_model(path=out / "checkpoint-4").state_dict()
    assert all(torch.equal(from_hub[k], from_folder[k]) for k in from_folder)
    # the study's stages load each step at its own revision (one hub id, two revisions)
    from forgetscope.execution import Reporter
    from forgetscope.store import RunStore
    from forgetscope.studies.trajectory.config import TrajectoryConfig
    from forgetscope.studies.trajectory.context import SeedContext

    cfg = TrajectoryConfig.model_validate(config(files, {"hub": "someone/tuned", "revisions": ["step2", "step4"]}))
    ctx = SeedContext(cfg, RunStore(tmp_path / "run"), 0, Reporter(None, "0"))
    ctx.stage("3_finetune").mark_done({"checkpoints": [2, 4], "sources": [c.record() for c in found]})
    for step in (2, 4):
        loaded = ctx.load_step(step).state_dict()
        folder = base.load_model(path=out / f"checkpoint-{step}").state_dict()
        assert all(torch.equal(loaded[k], folder[k]) for k in folder)


def test_compare_with_suites_is_a_conjugate_config_too(files):
    from forgetscope.compare import CompareRequest, configs

    runs = configs(CompareRequest(base=str(files["base"]), tuned="./tuned", probes=files["probes"], suites=["icl_if"]))
    assert [(study.name, sub) for study, _, sub in runs] == [("trajectory", "trajectory"), ("conjugate", "conjugate")]
    trajectory, conjugate = runs[0][1], runs[1][1]
    assert trajectory.finetune.checkpoints_from[0].step == 1 and trajectory.restore.restorers[0].name == "interpolation"
    assert conjugate.tuned.path == "./tuned" and conjugate.icl_if is not None
