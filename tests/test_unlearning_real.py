"""The unlearning study on a pretrained base (tiny Llamas saved as ordinary model folders, a byte-level
BPE): the probe file's sets and their folds, bad input as one line before any compute, and two runs
end to end: with an oracle (verdicts recomputed from the item tables) and, auditing an
OpenUnlearning-style checkpoints folder, without one (never removed or hidden)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import assert_matches_schema, assert_one_line_error, run_cli, write_yaml
from test_own_checkpoints import chatml_tokenizer, tiny_llama

DATA = Path(__file__).parents[1] / "examples" / "smollm2" / "data"
PROBES = DATA / "unlearning-probes.jsonl"
FRENCH = DATA / "unlearning-translation-fr.jsonl"
SETS = {"forget": ["forget_capitals"], "retain": ["retain_capitals"], "general": ["general_languages"]}
TRAIN = {"steps": 2, "batch_size": 4, "lr": 1e-3, "max_length": 16}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A base, an oracle and an unlearned folder (same tokenizer), a model with another tokenizer, an
    OpenUnlearning-style output folder (checkpoint-N/), a probe file of 6+6+6 items, relearning text."""
    from forgetscope.models import save_model

    d = tmp_path_factory.mktemp("real")
    tok, other_tok = chatml_tokenizer(), chatml_tokenizer(vocab_size=400)
    out = {name: str(save_model(tiny_llama(tok, seed=seed), tok, d / name)) for name, seed in (("base", 0), ("oracle", 1), ("folder", 2))}
    out["other"] = str(save_model(tiny_llama(other_tok, seed=3), other_tok, d / "other"))
    for step, seed in ((4, 4), (8, 5)):
        save_model(tiny_llama(tok, seed=seed), tok, d / "unlearn_run" / f"checkpoint-{step}")
        (d / "unlearn_run" / f"checkpoint-{step}" / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    out["run"] = str(d / "unlearn_run")
    rows = [json.loads(line) for line in PROBES.read_text().splitlines()]
    keep = [r for probe in ("forget_capitals", "retain_capitals", "general_languages") for r in [r for r in rows if r["probe"] == probe][:6]]
    (d / "probes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in keep))
    out["probes"], out["dir"] = str(d / "probes.jsonl"), d
    text = [json.loads(line) for line in (DATA / "restore.jsonl").read_text().splitlines()[:20]]
    (d / "text.jsonl").write_text("".join(json.dumps(r) + "\n" for r in text))
    out["text"] = str(d / "text.jsonl")
    return out


def approx(x):
    return pytest.approx(x, abs=1e-6)  # summary.json rounds to 6 decimals


def config(files, **over) -> dict:
    cfg = {"study": "unlearning", "name": "real", "seeds": [0],
           "base": {"kind": "pretrained", "path": files["base"]},
           "probes": {"path": files["probes"], **SETS}, "forget": {"folds": 2},
           "oracle": {"audit": False, "path": files["oracle"]},
           "methods": [{"name": "ga", "train": TRAIN}, {"name": "npo", "retain_weight": 1.0, "train": TRAIN}],
           "relearn": {"data": files["text"], "train": TRAIN, "curve": [0.5]},
           "conjugate": False, "transforms": ["leetspeak", "piglatin"], "translation": {"path": str(FRENCH), "language": "fr"},
           "eval_batch_size": 16,
           "analysis": {"n_bootstrap": 200}, "runtime": {"workers": 1, "threads": 1, "device": "cpu"}}
    cfg.update(over)
    return json.loads(json.dumps(cfg))  # no shared dicts (YAML aliases are refused)


# -- the probe file's sets ----------------------------------------------------------------------
def test_sets_relabel_items_and_folds_keep_a_fact_in_one_part():
    from forgetscope.evaluation.items import load_items
    from forgetscope.studies.unlearning import probe_sets as P
    from forgetscope.studies.unlearning.config import ProbeSets

    items = P.set_items(load_items(PROBES), ProbeSets(path=str(PROBES), **SETS))
    assert [len([i for i in items if i.probe == s]) for s in P.SETS] == [20, 20, 20]
    forget = [i for i in items if i.probe == "forget"]
    assert forget[0].id == "forget/forget_capitals/capital/000" and P.fact_key(forget[0].id) == "forget_capitals/capital/000"
    assert P.fact_text(forget[0]) == "The capital of France is Paris"
    # two items about one subject (a cloze and a question) land in one part; the parts cover the set once
    twin = forget[1].model_copy(update={"id": "forget/q/001", "prompt": "Question: capital of Germany?\nAnswer:"})
    parts = P.folds([*forget[:4], twin], 2)
    assert sorted(sum(parts, [])) == sorted(i.id for i in [*forget[:4], twin])
    assert next(p for p in parts if forget[1].id in p) == next(p for p in parts if twin.id in p)
    leet = P.transformed(forget[:2], "leetspeak")
    assert leet[0].prompt == "7h3 c4p174l 0f Fr4nc3 15" and leet[0].choices == forget[0].choices
    assert P.fact_key(leet[0].id) == P.fact_key(forget[0].id) and leet[0].probe == "forget_leetspeak"
    assert P.overlapping(["A walk in the park.", "they say  the CAPITAL of france is paris, and"], forget) == (2, forget[0])
    assert P.overlapping(["The capital of France is Rome."], forget) is None


def test_without_a_control_a_verdict_is_never_removed_or_hidden():
    from forgetscope.studies.unlearning.verdict import model_verdict

    assert model_verdict((0.3, 0.6), ["no_control"] * 3, 0.05) == "no_control"  # unlearned, attacks undecidable
    assert model_verdict((-0.02, 0.03), ["no_control"], 0.05) == "not_unlearned"  # needs no control
    assert model_verdict((0.3, 0.6), ["hidden", "removed"], 0.05) == "hidden"  # with a control: as before


def test_config_refuses_fact_world_settings_on_a_pretrained_base(files):
    from pydantic import ValidationError

    from forgetscope.studies.unlearning.config import UnlearningConfig

    cases = [({"probes": None}, "needs probes"), ({"conjugate": True}, "conjugate probes the fact world"),
             ({"oracle": {"audit": True}}, "oracle.audit"), ({"relearn": {"data": "world"}}, "relearn.data"),
             ({"forget": {"people": 3}}, "forget.people is for the fact world")]
    for over, message in cases:
        with pytest.raises(ValidationError, match=message):
            UnlearningConfig.model_validate(config(files, **over))
    with pytest.raises(ValidationError, match="transforms is for a pretrained base"):
        UnlearningConfig.model_validate({"study": "unlearning", "transforms": ["leetspeak"]})


# -- bad input: one line, exit 2, before compute ---------------------------------------------------
def bad_cases(files) -> dict:
    d = files["dir"]
    partial = d / "fr-partial.jsonl"
    partial.write_text("".join(line + "\n" for line in FRENCH.read_text().splitlines()[1:]))
    overlap = d / "overlap.jsonl"
    overlap.write_text(json.dumps({"text": "A long walk. " * 20}) + "\n" + json.dumps({"text": "Everyone knows the capital of Germany is Berlin."}) + "\n")
    return {
        "no forget probes": ({"probes": {"path": files["probes"], **SETS, "forget": ["forget_dates"]}},
                             ["no items of probe forget_dates", "no forget probes"]),
        "overlap": ({"relearn": {"data": str(overlap), "train": TRAIN}}, ["row 2 states forget item", "overlap"]),
        "translation row missing": ({"translation": {"path": str(partial), "language": "fr"}},
                                    ["no row with id 'forget_capitals/capital/000'", "every forget item"]),
        "oracle tokenizer": ({"oracle": {"audit": False, "path": files["other"]}}, ["oracle's tokenizer is not the base's"]),
        "folder tokenizer": ({"unlearned": [{"label": "x", "path": files["other"]}]}, ["unlearned:", "not a checkpoint of the base", "vocab_size"]),
    }


@pytest.mark.parametrize("case", ["no forget probes", "overlap", "translation row missing", "oracle tokenizer", "folder tokenizer"])
def test_bad_input_is_one_line_before_compute(files, tmp_path, case):
    over, fragments = bad_cases(files)[case]
    out = tmp_path / "run"
    proc = run_cli("run", write_yaml(tmp_path / "c.yaml", config(files, **over)), "--out", out, "-q")
    assert_one_line_error(proc, *fragments)
    assert not out.exists() or not any(out.glob("**/_done*"))  # nothing computed, nothing marked done


# -- end to end, with an oracle ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def audited(files):
    out = files["dir"] / "run-oracle"
    proc = run_cli("run", write_yaml(files["dir"] / "oracle.yaml", config(files)), "--out", out, "-q")
    assert proc.returncode == 0, proc.stderr
    return out


def test_pretrained_audit_with_an_oracle_recomputed_from_its_tables(audited):
    s = json.loads((audited / "summary.json").read_text())
    assert_matches_schema(audited / "summary.json", "unlearning")
    assert [(m["name"], m["method"]) for m in s["models"]] == [("ga", "ga"), ("npo", "npo")]
    assert s["forget_people"] is None and s["forget_items"] == 6 and s["control"] is not None
    items, relearn = pd.read_parquet(audited / "results" / "items.parquet"), pd.read_parquet(audited / "results" / "relearn.parquet")
    assert set(items.probe) == {"forget", "retain", "general", "forget_leetspeak", "forget_piglatin", "forget_fr"}
    assert [a["attack"] for a in s["models"][0]["attacks"]] == ["text", "forget_folds", "retain", "conjugate_leetspeak",
                                                                 "conjugate_piglatin", "conjugate_fr"]

    def mean(t, model, probe):
        return t[(t.model == model) & (t.probe == probe)].score.mean()

    full = relearn[relearn.step == relearn.step.max()]
    delta = s["delta"]
    for m in s["models"]:
        unlearned = mean(items, m["name"], "forget")
        assert m["scores"]["forget"]["mean"] == approx(unlearned)
        assert m["forgetting"]["mean"] == approx(mean(items, "base", "forget") - unlearned)
        for a in m["attacks"]:
            if a["attack"].startswith("conjugate_"):
                probe = "forget_" + a["attack"].removeprefix("conjugate_")
                mine, control = mean(items, m["name"], probe), mean(items, "oracle-control", probe)
            else:
                mine, control = (mean(full[full.attack == a["attack"]], who, "forget") for who in (m["name"], "oracle-control"))
            assert a["attacked"] == approx(mine) and a["control"] == approx(control)
            assert (a["base"] is None) == (not a["attack"].startswith("conjugate_"))
            if a["base"] is not None:
                assert a["base"] == approx(mean(items, "base", probe))
            assert a["excess"] == approx(mine - control) and a["recovery"]["mean"] == approx(mine - unlearned)
            lo, hi = a["ci"]
            assert lo <= a["excess"] <= hi
            assert a["label"] == ("hidden" if lo > delta else "removed" if hi <= delta else "uncertain")
    # each forget fact is probed once over the folds, after relearning on the other part only
    folds = json.loads((audited / "1_world" / "folds.json").read_text())
    ff = full[(full.attack == "forget_folds") & (full.probe == "forget") & (full.model == "ga")]
    assert [sorted(ff[ff.fold == k].item_id) for k in range(2)] == [sorted(f) for f in folds]


def test_prompt_attacks_rewrite_the_forget_prompts_only(audited):
    """leetspeak and pig latin computed, French read from the translation file; the choices kept."""
    from forgetscope.transforms import get_transform

    rows = [json.loads(line) for line in (audited / "1_world" / "unlearning_probes.jsonl").read_text().splitlines()]
    forget = {r["id"].split("/", 1)[1]: r for r in rows if r["probe"] == "forget"}
    for name in ("leetspeak", "piglatin"):
        moved = [r for r in rows if r["probe"] == f"forget_{name}"]
        assert len(moved) == len(forget)
        for r in moved:
            orig = forget[r["id"].split("/", 1)[1]]
            assert r["prompt"] == get_transform(name).apply(orig["prompt"]) != orig["prompt"]
            assert (r["choices"], r["answer"]) == (orig["choices"], orig["answer"])
    french = {json.loads(line)["id"]: json.loads(line)["prompt"]["fr"] for line in FRENCH.read_text().splitlines()}
    moved = [r for r in rows if r["probe"] == "forget_fr"]
    assert len(moved) == len(forget) and all(r["prompt"] == french[r["id"].split("/", 1)[1]] for r in moved)
    fold_texts = (audited / "1_world" / "forget_fold0.jsonl").read_text()
    held_out = json.loads((audited / "1_world" / "folds.json").read_text())[0]
    for item_id in held_out:  # the part probed after relearning on forget_fold0 is not in its text
        r = next(r for r in rows if r["id"] == item_id)
        assert r["prompt"] + r["choices"][r["answer"]] not in fold_texts


# -- end to end, an unlearning run's checkpoints, no oracle -------------------------------------------
def test_checkpoints_without_an_oracle_never_say_removed_or_hidden(files):
    out = files["dir"] / "run-ckpt"
    cfg = config(files, oracle={"audit": False}, methods=[], unlearned=[{"label": "elsewhere", "path": files["folder"]}],
                 checkpoints_from=files["run"], transforms=["leetspeak"], translation=None,
                 relearn={"attacks": ["text", "retain"], "data": files["text"], "train": TRAIN, "curve": [0.5]})
    proc = run_cli("run", write_yaml(files["dir"] / "ckpt.yaml", cfg), "--out", out, "-q")
    assert proc.returncode == 0, proc.stderr
    s = json.loads((out / "summary.json").read_text())
    assert_matches_schema(out / "summary.json", "unlearning")
    assert s["control"] is None
    assert [(m["name"], m["method"]) for m in s["models"]] == [("elsewhere", "folder"), ("checkpoint-4", "checkpoint"),
                                                              ("checkpoint-8", "checkpoint")]
    items = pd.read_parquet(out / "results" / "items.parquet")
    assert set(items.model) == {"base", "elsewhere", "checkpoint-4", "checkpoint-8"}  # no control scored
    for m in s["models"]:
        assert m["verdict"] in ("no_control", "not_unlearned")
        for a in m["attacks"]:
            assert a["label"] == "no_control" and a["excess"] is None and a["control"] is None
    assert all(f["verdict"] == "uncertain" for f in s["findings"])
    html = (out / "report.html").read_text()
    assert "No oracle" in html and ">hidden<" not in html and ">removed<" not in html
    # an audited folder's forget scores, by hand: each choice's summed log-probability after the prompt
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok, model = AutoTokenizer.from_pretrained(files["folder"]), AutoModelForCausalLM.from_pretrained(files["folder"]).eval()
    probes = {json.loads(line)["id"]: json.loads(line) for line in (out / "1_world" / "unlearning_probes.jsonl").read_text().splitlines()}
    mine = items[(items.model == "elsewhere") & (items.probe == "forget")]
    assert len(mine) == 6
    for row in mine.itertuples():
        it = probes[row.item_id]
        lps = []
        for choice in it["choices"]:
            ctx, full = tok(it["prompt"])["input_ids"], tok(it["prompt"] + choice)["input_ids"]
            assert full[: len(ctx)] == ctx
            with torch.no_grad():
                logp = torch.log_softmax(model(torch.tensor([full])).logits[0].double(), -1)
            lps.append(sum(float(logp[i - 1, full[i]]) for i in range(len(ctx), len(full))))
        assert row.answer_logprob == pytest.approx(lps[it["answer"]], abs=1e-4)
        assert row.score == float(max(range(len(lps)), key=lps.__getitem__) == it["answer"])
