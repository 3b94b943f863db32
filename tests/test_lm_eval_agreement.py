"""The native scorer against lm-evaluation-harness's HFLM on the same tiny model and items: equal
log-likelihoods (1e-4), the same is_greedy, the same greedy generations; the probe items as generated
lm-eval tasks; the lm-eval backend through the trajectory pipeline. Nothing is downloaded."""

from __future__ import annotations

import copy
import json

import pytest

pytest.importorskip("lm_eval")

from lm_eval.api.instance import Instance  # noqa: E402

from forgetscope.errors import UserError  # noqa: E402
from forgetscope.evaluation.items import ProbeItem  # noqa: E402
from forgetscope.evaluation.lm_eval_backend import (  # noqa: E402
    _local_hflm_class,
    evaluate_with_lm_eval,
    probe_task_configs,
)
from forgetscope.evaluation import lm_eval_tasks  # noqa: E402
from forgetscope.evaluation.lm_eval_tasks import check_lm_eval_tasks, known_task_names  # noqa: E402
from forgetscope.evaluation.probe_runner import ProbeSettings, render_prompt, run_probes  # noqa: E402
from forgetscope.evaluation.scorer import NativeScorer  # noqa: E402


def hflm(model, tok, batch_size=8):
    return _local_hflm_class()(pretrained=model, tokenizer=tok, batch_size=batch_size, max_batch_size=batch_size)


def bos_tokenizer(tok):
    """The world tokenizer made to add a BOS token (`<user>`) like a Llama tokenizer: plain prompts get
    it prepended, chat prompts (which start with `<user>`) must not get it twice."""
    from tokenizers import processors

    t = copy.deepcopy(tok)
    t.bos_token = "<user>"
    bos = t.convert_tokens_to_ids("<user>")
    t.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="<user> $A", pair="<user> $A $B", special_tokens=[("<user>", bos)])
    assert t("paris")["input_ids"][0] == bos
    return t


@pytest.fixture(scope="module")
def world_items(tiny_world):
    return [ProbeItem.model_validate(r) for r in tiny_world.probes]


def requests_from(items, tok) -> list[tuple[str, str]]:
    reqs = [(render_prompt(it, tok), c) for it in items if it.kind == "choice" for c in it.choices[:6]]
    reqs += [(render_prompt(it, tok), " " + str(it.answer)) for it in items if it.kind == "exact"]  # multi-token
    choice = [it for it in items if it.kind == "choice"][:6]  # longer continuations sharing a context
    reqs += [(render_prompt(it, tok), c + tail) for it in choice for c in it.choices[:4] for tail in (" .", " . the", "")]
    reqs += [("", "paris is a city ."), ("alice-baker was born in ", "paris")]  # empty context; trailing space
    return reqs


@pytest.mark.parametrize("with_bos", [False, True], ids=["world-tokenizer", "bos-tokenizer"])
def test_loglikelihoods_agree_with_hflm(tiny_lm, world_items, with_bos):
    model, tok = tiny_lm
    tok = bos_tokenizer(tok) if with_bos else tok
    reqs = requests_from(world_items, tok)
    scorer = NativeScorer(model, tok, batch_size=16)
    scorer.share_prefix_min_tokens = 1  # the shared-context path on these short prompts too
    native = scorer.loglikelihood(reqs)
    assert [n.logprob for n in native] == pytest.approx(
        [n.logprob for n in NativeScorer(model, tok, batch_size=16, share_prefix=False).loglikelihood(reqs)], abs=1e-5)
    theirs = hflm(model, tok).loglikelihood(
        [Instance("loglikelihood", {}, r, i) for i, r in enumerate(reqs)], disable_tqdm=True)
    assert len(native) == len(theirs) == len(reqs)
    diffs = [abs(n.logprob - float(lp)) for n, (lp, _) in zip(native, theirs, strict=True)]
    assert max(diffs) < 1e-4
    assert [n.is_greedy for n in native] == [bool(g) for _, g in theirs]


@pytest.mark.parametrize("with_bos", [False, True], ids=["world-tokenizer", "bos-tokenizer"])
def test_greedy_generations_agree_with_hflm(tiny_lm, world_items, with_bos):
    model, tok = tiny_lm
    tok = bos_tokenizer(tok) if with_bos else tok
    prompts = [render_prompt(it, tok) for it in world_items if it.kind != "choice"]
    prompts += [it.prompt for it in world_items if it.kind == "choice"][:10]  # plain prompts too
    for stop in (["\n"], ["."]):
        native = NativeScorer(model, tok, batch_size=16).generate(prompts, max_new_tokens=8, stop=stop)
        gen = {"until": stop, "max_gen_toks": 8, "do_sample": False}
        theirs = hflm(model, tok).generate_until(
            [Instance("generate_until", {}, (p, gen), i) for i, p in enumerate(prompts)], disable_tqdm=True)
        assert native == theirs


def test_probe_items_as_lm_eval_tasks_score_as_natively(tiny_lm, world_items):
    model, tok = tiny_lm
    items = [it for it in world_items if it.kind in ("choice", "exact")]
    settings = ProbeSettings()
    rows, raw = evaluate_with_lm_eval(model, tok, items, batch_size=16, settings=settings)
    native = run_probes(NativeScorer(model, tok, batch_size=16), items, settings)
    assert [r["item_id"] for r in rows] == [r["item_id"] for r in native]
    for lm, nat in zip(rows, native, strict=True):
        assert lm["metric"] == ("acc" if nat["kind"] == "choice" else "exact_match")
        assert lm["score"] == nat["score"] and lm["output"] == nat["output"]
        if nat["kind"] == "choice":
            assert lm["answer_logprob"] == pytest.approx(nat["answer_logprob"], abs=1e-4)
            assert lm["answer_rank"] == nat["answer_rank"]
    for task in probe_task_configs(items, tok):  # lm-eval's aggregate equals the mean of our rows
        metric = "acc" if task.endswith(("cloze_l1", "cloze_l2")) else "exact_match"
        ours = [r["score"] for r in rows if f"forgetscope_{r['probe']}" == task]
        assert raw["results"][task][f"{metric},none"] == pytest.approx(sum(ours) / len(ours))


def test_exact_match_options_follow_our_rule(tiny_lm):
    """Answers the model cannot produce are scored 0 by both; the regexes only normalise edges and case."""
    from lm_eval.api.metrics import exact_match_hf_evaluate

    from forgetscope.evaluation import rules
    from forgetscope.evaluation.lm_eval_backend import EXACT_MATCH_OPTIONS

    pairs = [("Paris.", "paris"), ("  paris  ", "Paris"), ("paris  is", "paris is"), ("paris!", "lyon"), ("", "x")]
    for pred, ref in pairs:
        got = exact_match_hf_evaluate([pred], [ref], **EXACT_MATCH_OPTIONS)["exact_match"]
        assert bool(got) == rules.exact_match(pred, ref), (pred, ref)


def test_unknown_task_or_kind_is_a_user_error(tiny_lm, world_items):
    model, tok = tiny_lm
    with pytest.raises(UserError, match="does not know"):
        check_lm_eval_tasks(["no_such_task_xyz"])
    with pytest.raises(UserError, match="no lm-eval metric"):
        probe_task_configs([it for it in world_items if it.kind == "refusal"], tok)


def _task_yaml(folder, name):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(f"task: {name}\ndataset_path: json\noutput_type: multiple_choice\n"
                                          "doc_to_text: q\ndoc_to_choice: [a, b]\ndoc_to_target: 0\n")


def test_task_names_are_lm_evals_and_come_from_the_cache_once_kept(tmp_path, monkeypatch):
    """The names a check knows are lm-eval's own index's; once kept in the cache a check builds no
    index of lm-eval's folder (seconds; an index of the include folder alone is a walk of it); a task
    YAML added to an include folder, or a damaged cache file, makes it build again. Within one process
    the folders are walked once per include path (a run checks before every model)."""
    monkeypatch.setenv("FORGETSCOPE_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "tasks"
    _task_yaml(folder, "mine_one")
    built, walked = [], []
    real, real_walk = lm_eval_tasks.task_manager, lm_eval_tasks._yaml_fingerprint

    def counting(include_defaults, include_path=()):
        if include_defaults:  # lm-eval's own folder in the index
            built.append(include_path)
        return real(include_defaults, include_path)

    def counting_walk(version, folders):
        walked.append(folders)
        return real_walk(version, folders)

    def later_process():  # what a new process starts without: the in-process lookups
        lm_eval_tasks._known_task_names.cache_clear()

    monkeypatch.setattr(lm_eval_tasks, "task_manager", counting)
    monkeypatch.setattr(lm_eval_tasks, "_yaml_fingerprint", counting_walk)
    later_process()
    names = known_task_names([str(folder)])
    assert names == set(real(True, (str(folder.resolve()),)).all_tasks)  # lm-eval's index, every name
    assert {"mine_one", "arc_easy"} <= names and len(built) == 1
    check_lm_eval_tasks(["mine_one", "arc_easy"], [str(folder)])
    assert len(walked) == 1  # the same process: not walked again
    later_process()
    assert known_task_names([str(folder)]) == names and len(built) == 1  # from the cache: no index built
    check_lm_eval_tasks(["mine_one", "arc_easy"], [str(folder)])
    assert len(built) == 1
    _task_yaml(folder, "mine_two")
    real.cache_clear()  # this process's own index of the folder is stale too
    later_process()
    with pytest.raises(UserError, match="'mine_tw'; did you mean 'mine_two'"):  # the new task is known
        check_lm_eval_tasks(["mine_tw"], [str(folder)])
    assert "mine_two" in known_task_names([str(folder)]) and len(built) == 2  # the new YAML: built again
    kept = list((tmp_path / "cache" / "lm-eval-tasks").glob("*.json"))
    for f in kept:
        f.write_text("{damaged")
    later_process()
    assert known_task_names([str(folder)]) == names | {"mine_two"} and len(built) == 3
    later_process()  # no lookup made through this test's counting helpers stays behind


def test_config_fields():
    from forgetscope.studies.trajectory.config import EvalConfig

    assert not EvalConfig().uses_lm_eval
    assert EvalConfig(backend="lm_eval").uses_lm_eval and EvalConfig(lm_eval_tasks=["arc_easy"]).uses_lm_eval
    with pytest.raises(ValueError):
        EvalConfig(backend="vllm")


def test_trajectory_smoke_with_lm_eval_backend(tmp_path, smoke_config):
    """The smoke pipeline with `eval.backend: lm_eval`: results/lm_eval.parquet holds one row per
    choice/exact item for every checkpoint and restored model, equal to the native items table."""
    import pandas as pd
    from conftest import run_cli, write_yaml

    cfg = {**smoke_config, "eval": {"backend": "lm_eval"}, "restore": {**smoke_config["restore"], "restorers": ["lm_training"]},
           "runtime": {**smoke_config["runtime"], "cache_dir": str(tmp_path / "cache")}}
    proc = run_cli("run", write_yaml(tmp_path / "c.yaml", cfg), "--out", tmp_path / "run", "-q")
    assert proc.returncode == 0, proc.stderr
    lm = pd.read_parquet(tmp_path / "run/results/lm_eval.parquet")
    items = pd.read_parquet(tmp_path / "run/results/items.parquet")
    assert set(lm["metric"]) == {"acc", "exact_match"} and set(lm["backend"]) == {"lm_eval"}
    keys = ["seed", "condition", "step", "item_id"]
    both = items.merge(lm, on=keys, suffixes=("", "_lm"))
    assert len(both) == len(lm) == (items["kind"].isin(["choice", "exact"])).sum()
    assert set(lm["condition"]) == {"checkpoint", "restored"}
    assert (both["score"] == both["score_lm"]).all()
    choice = both[both["kind"] == "choice"]
    assert (choice["answer_logprob"] - choice["answer_logprob_lm"]).abs().max() < 1e-4
    # scored through lm-eval, the probe files' probes are still the probes' own, not lm-eval tasks
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    assert {p["source"] for p in summary["probes"].values()} == {"probes"}, {k: p["source"] for k, p in summary["probes"].items()}
