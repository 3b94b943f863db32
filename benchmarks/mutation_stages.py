"""Run mutants of the study stages (and of the scorer, the probe runner and restoration) against the
tests, forking each from finished smoke runs instead of training from scratch (issue 25).

    python benchmarks/mutation_stages.py --generate            # mutants/ from [tool.mutmut], no test runs
    python benchmarks/mutation_stages.py --sample 10 > names   # 10 mutants of each module (seed 25)
    python benchmarks/mutation_stages.py --sample 10 --seed 26 --exclude names > more   # 10 more of each
    python benchmarks/mutation_stages.py NAMES_FILE [--work DIR] [--until HH:MM] [--also TESTS ...]

Run it from the repository root after `mutants/` exists (`--generate` runs only mutmut's generation
step: `mutmut run`'s stats and clean runs take longer than a sample's mutants). Once, with
the original code, the parent builds the three study runs the end-to-end tests use as module fixtures
(test_pipeline's `smoke_run`, test_regression_study's `tiny_run`, test_conjugate's `conj_run`) under
WORK and keeps a pristine copy. For each mutant it puts that copy back and deletes the mutated stage's
folders and every later one (a run resumes stage by stage, so only they run again); a scorer or probe
runner mutant reruns the trajectory run from evaluation (s4) and the conjugate run from its model
suites, a restoration mutant the trajectory run from restoration (s6). A forked child then sets
MUTANT_UNDER_TEST and runs pytest with those fixtures replaced by the resumed runs, in two phases:

  before: the module's unit-test files, the study tests that read the run fixture (not the ones
          that run the study again, in a subprocess or from scratch: they cannot see the mutant or
          compare it with itself), then the tests written for earlier passes' survivors that call
          the module (KILLERS: tests/test_stage_mutation*.py, not the one that runs a whole study);
  after:  only for a mutant the first phase leaves alive: the study's oracle test
          (`test_summary_agrees_with_the_independent_oracle`) and the tests of tests/test_invariants.py
          that execute the module (`plan`).

The suite of the first phase is the suite without tests/oracle and tests/test_invariants.py, so a
mutant it kills is killed "before" and "after". Prints one line a mutant:
`KILLED-BEFORE | KILLED-AFTER | SURVIVED | TIMEOUT-BEFORE | TIMEOUT-AFTER  seconds  name`. A line
`control:MODULE` in NAMES_FILE runs that module's tests on the original code (it must say SURVIVED:
the check that the forked runs and the replaced fixtures pass as the tests' own do);
MUTATION_VERBOSE=1 shows pytest's output.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import importlib
import json
import os
import re
import shutil
import signal
import sys
import time
from pathlib import Path

STUDY_TESTS = {  # test file, its run fixture, the tests (of that file) that read the fixture and run nothing again
    "trajectory": ("tests/test_pipeline.py", "smoke_run", ["test_outputs_and_summary_schema", "test_rerun_recomputes_nothing"]),
    "regression": ("tests/test_regression_study.py", "tiny_run", ["test_outputs_and_summary_schema", "test_rerun_recomputes_nothing"]),
    "conjugate": ("tests/test_conjugate.py", "conj_run", ["test_summary_rows_and_arithmetic",
                                                          "test_fact_world_from_a_trajectory_run_built_through_the_registry",
                                                          "test_report_escapes_and_rerun_recomputes_nothing"]),
}
YAML = {"trajectory": "smoke.yaml", "regression": "tiny.yaml", "conjugate": "conj.yaml"}  # the names the tests rerun
BASE_STAGE = {"trajectory": 2, "regression": 1}  # the stage that pre-trains (or takes from the cache) the base
ORACLE = "test_summary_agrees_with_the_independent_oracle"
INVARIANTS = "tests/test_invariants.py"
SCORING_UNITS = ["tests/test_rules_and_probes.py", "tests/test_suites.py", "tests/test_lm_eval_agreement.py"]
M1, M2, M3 = "tests/test_stage_mutation.py", "tests/test_stage_mutation2.py", "tests/test_stage_mutation3.py"
KILLERS = {  # the tests written for earlier passes' survivors, by the module they call (not those that run a whole study)
    "restoration.base": [f"{M2}::test_a_restorers_options_error_names_where_it_is"],
    "restoration.interpolation": [f"{M2}::test_interpolation_of_a_model_whose_config_does_not_name_tied_embeddings"],
    "restoration.lm_training": [f"{M2}::test_a_restorers_budget_scales_its_steps_and_warm_up",
                                f"{M2}::test_the_restoration_curve_scores_the_primary_probe_part_of_the_way_through"],
    "studies.conjugate.s1_items_build": [f"{M3}::test_each_translation_model_is_unloaded_once_its_items_are_built",
                                         f"{M2}::test_model_suites_generate_as_many_tokens_as_their_group_allows"],
    "studies.conjugate.s2_models_evaluate": [f"{M2}::test_model_suites_generate_as_many_tokens_as_their_group_allows"],
    "studies.conjugate.s3_world_evaluate": [f"{M2}::test_fact_world_rows_name_the_base_and_the_tuned_model_as_the_model_suites_do",
                                            f"{M2}::test_fact_world_checkpoints_after_all_are_still_checked"],
    "studies.conjugate.s4_results_analyze": [f"{M1}::test_conjugate_analysis_refuses_a_non_finite_fact_world_score",
                                             f"{M2}::test_a_fact_world_only_summary_names_the_trajectory_runs_seeds"],
    "studies.regression.s1_base_pretrain": [f"{M1}::test_the_regression_base_cache_key_covers_the_task",
                                            f"{M2}::test_the_regression_base_cache_key_covers_the_pre_training",
                                            f"{M2}::test_the_regression_base_is_pretrained_on_the_curriculum",
                                            f"{M3}::test_regression_seeds_train_in_their_own_process_under_a_launcher"],
    "studies.regression.s2_model_finetune": [f"{M2}::test_regression_fine_tuning_rewrites_a_checkpoint_a_killed_run_left_without_its_state",
                                             f"{M3}::test_regression_seeds_train_in_their_own_process_under_a_launcher"],
    "studies.regression.s4_results_analyze": [f"{M2}::test_the_regression_training_log_tells_pre_training_from_fine_tuning"],
    "studies.trajectory.s1_world_generate": [f"{M2}::test_the_world_stage_record_counts_the_files_it_wrote"],
    "studies.trajectory.s2_base_pretrain": [f"{M2}::test_the_trajectory_base_cache_key_changes_with_the_base_format",
                                           f"{M3}::test_a_launched_group_pretrains_the_trajectory_base_as_one_job"],
    "studies.trajectory.s3_model_finetune": [f"{M1}::test_fine_tuning_data_in_the_text_format_is_packed_into_lm_blocks",
                                            f"{M2}::test_merged_lora_checkpoints_are_the_base_plus_the_adapter_of_their_step"],
    "studies.trajectory.s4_checkpoints_evaluate": [f"{M3}::test_the_evaluation_stage_record_lists_the_steps_it_evaluated"],
    "studies.trajectory.s5_pattern_measure": [f"{M2}::test_a_run_without_pattern_prompts_writes_an_empty_pattern_table_with_its_columns"],
    "studies.trajectory.s6_checkpoints_restore": [f"{M2}::test_the_restoration_curve_scores_the_primary_probe_part_of_the_way_through"],
    "studies.trajectory.s7_results_analyze": [f"{M2}::test_lm_eval_task_documents_become_probe_items_scored_by_the_tasks_metric",
                                             f"{M2}::test_a_probe_summary_names_an_lm_eval_task_as_its_source",
                                             f"{M2}::test_the_gathered_training_log_tells_pre_training_from_fine_tuning"],
}


def plan(module: str) -> tuple[list[str], dict[str, int], list[str]]:
    """(unit tests, {study: first stage to run again}, the invariants that execute the module) for a
    mutated module. The invariants are chosen as mutmut's coverage map would: a test that never runs
    the module cannot kill its mutants (the label-sequence test and the closeness test call only
    forgetscope.analysis; no invariant reaches the conjugate stages)."""
    identical = f"{INVARIANTS}::test_a_checkpoint_identical_to_the_base_has_no_forgetting_and_no_gap"
    m = re.fullmatch(r"forgetscope\.studies\.(\w+)\.s(\d)_\w+", module)
    if m:
        units = ["tests/test_report_trajectory.py"] if module.endswith("s7_results_analyze") else []
        invariants = {"trajectory": [identical], "regression": [f"{INVARIANTS}::test_gamma_one_and_gamma_agree_on_a_model_linear_in_y"]}
        return units, {m[1]: int(m[2])}, invariants.get(m[1], [])
    if module == "forgetscope.evaluation.scorer":
        return (["tests/test_scorer.py", "tests/test_pattern_shift.py", *SCORING_UNITS], {"trajectory": 4, "conjugate": 2},
                [identical, f"{INVARIANTS}::test_byte_counts_are_the_utf8_bytes_of_l2_and_any_unicode_text"])
    if module == "forgetscope.evaluation.probe_runner":
        return SCORING_UNITS, {"trajectory": 4, "conjugate": 2}, [identical, f"{INVARIANTS}::test_choices_score_as_lm_evals_acc"]
    if module.startswith("forgetscope.restoration."):  # test_cli_errors: a restorer's options checked by `validate`
        return ["tests/test_restoration.py", "tests/test_cli_errors.py"], {"trajectory": 6}, [identical]
    raise SystemExit(f"no plan for {module}")


def build_runs(work: Path) -> dict[str, tuple[Path, dict]]:
    """The three fixture runs, as the test files build them, with the original code."""
    import copy

    from conftest import SMOKE, _tiny_world, run_cli, write_yaml
    from test_conjugate import conjugate_config
    from test_regression_study import tiny

    from forgetscope.models import TinyModelConfig, build_tiny_model, save_model

    runs = {}
    d = work / "trajectory"
    restore = {k: v for k, v in SMOKE["restore"].items() if k != "restorers"}
    runs["trajectory"] = (d / "run", {**copy.deepcopy(SMOKE), "restore": restore, "runtime": {**SMOKE["runtime"], "cache_dir": str(d / "cache")}})
    d = work / "regression"
    runs["regression"] = (d / "run", tiny(runtime__cache_dir=str(d / "cache")))
    d = work / "conjugate"
    d.mkdir(parents=True, exist_ok=True)
    tok, models = _tiny_world().tokenizer(), []
    for name, seed in (("base", 0), ("m<i>tuned", 1)):
        models.append(str(save_model(build_tiny_model(TinyModelConfig(layers=2, hidden=32, heads=2), tok, seed=seed), tok, work / "models" / name)))
    runs["conjugate"] = (d / "conjugate", conjugate_config(d, tuple(models)))
    for study, (run, cfg) in runs.items():
        run.parent.mkdir(parents=True, exist_ok=True)
        proc = run_cli("run", write_yaml(run.parent / YAML[study], cfg), "--out", str(run), "-q")
        assert proc.returncode == 0, proc.stderr
    (work / "models.json").write_text(json.dumps(models))
    return runs


def drop_stages(run: Path, study: str, first: int) -> None:
    """Delete stage `first` and every later one of each seed (and the results), so a rerun does them again."""
    for seed in [run] if study == "conjugate" else run.glob("seed-*"):
        for stage in seed.iterdir():
            if stage.is_dir() and re.match(r"\d+_", stage.name) and int(stage.name.split("_")[0]) >= first:
                shutil.rmtree(stage)
    for name in ("results", "summary.json", "report.html"):
        p = run / name
        shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)


def fixture_for(name: str, run: Path, cfg: dict, rerun: bool):
    """A module fixture that resumes the run (the mutant active) and returns it as the test file's does."""
    import pytest
    from conftest import run_cli

    @pytest.fixture(scope="module", name=name)
    def resumed():
        if rerun:
            proc = run_cli("run", run.parent / YAML[cfg["study"]], "--out", str(run), "-q")
            assert proc.returncode == 0, proc.stderr
        return run, cfg

    return resumed


def child(name: str, tests: list[str], runs: dict, forks: dict[str, int], work: Path) -> int:
    os.setpgid(0, 0)
    os.environ["MUTANT_UNDER_TEST"] = name
    os.environ["FORGETSCOPE_CACHE"] = str(work / "fscache")
    import pytest

    for study, (test_file, fixture, _) in STUDY_TESTS.items():
        mod = sys.modules[Path(test_file).stem]
        setattr(mod, fixture, fixture_for(fixture, *runs[study], study in forks))
        if study == "conjugate":  # the models the run was built from
            models = tuple(json.loads((work / "models.json").read_text()))
            mod.models = pytest.fixture(scope="module", name="models")(lambda: models)
    if not os.environ.get("MUTATION_VERBOSE"):
        sys.stdout = sys.stderr = open(os.devnull, "w")
    args = ["-q", "-x", "-p", "no:cacheprovider", "-p", "no:randomly", "-m", "not slow", "--basetemp", str(work / "pytest"), *tests]
    return int(pytest.main(args))


def run_child(name, tests, runs, forks, work, timeout) -> str:
    if not tests:
        return "NO-TESTS"
    pid = os.fork()
    if pid == 0:
        os._exit(child(name, tests, runs, forks, work))
    end = time.time() + timeout
    while time.time() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            rc = os.waitstatus_to_exitcode(status)
            return "SURVIVED" if rc in (0, 5) else "KILLED"
        time.sleep(0.2)
    os.killpg(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return "TIMEOUT"


def generate() -> None:
    """mutmut's own generation step (`mutmut run` before it collects stats): src/ copied to mutants/
    with every function of [tool.mutmut]'s `only_mutate` rewritten behind its switch."""
    from mutmut import __main__ as mm

    mm.set_mutant_under_test("mutant_generation")
    os.makedirs("mutants", exist_ok=True)
    mm.copy_src_dir()
    mm.copy_also_copy_files()
    mm.setup_source_paths()
    print(mm.create_mutants(1))


def print_sample(mutants: Path, n: int, seed: int, exclude: set[str] = frozenset()) -> None:
    """N mutant names drawn without replacement from each mutated module (mutmut's .meta files, sorted
    by path), printed round-robin over the modules, so a run cut short has about as many of each.
    `exclude`: names an earlier draw took (a second draw then adds N new ones per module)."""
    import random

    rng, drawn = random.Random(seed), []
    for meta in sorted(mutants.glob("src/**/*.py.meta")):
        keys = sorted(set(json.loads(meta.read_text())["exit_code_by_key"]) - exclude)
        if keys:
            drawn.append(rng.sample(keys, min(n, len(keys))))
    for i in range(n):
        for names in drawn:
            if i < len(names):
                print(names[i])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("names", nargs="?", help="mutant names, one a line (or with --sample: print a sample)")
    ap.add_argument("--generate", action="store_true", help="make mutants/ (mutmut's generation step only) and stop")
    ap.add_argument("--sample", type=int, help="print N mutants drawn uniformly from each module of mutants/ and stop")
    ap.add_argument("--seed", type=int, default=25, help="the sample's seed")
    ap.add_argument("--exclude", help="with --sample: a file of names (one a line) not to draw again")
    ap.add_argument("--mutants", default="mutants")
    ap.add_argument("--work", default="/tmp/forgetscope-mutation", help="the fixture runs (rebuilt if absent)")
    ap.add_argument("--until", help="UTC HH:MM: start no mutant after it")
    ap.add_argument("--also", nargs="*", default=[], help="more tests (not oracle, not invariants) for the first phase")
    ap.add_argument("--timeout", type=float, default=600, help="seconds a phase may take (then counted killed)")
    args = ap.parse_args()
    if args.generate:
        return generate()
    if args.sample:
        exclude = {ln.strip() for ln in open(args.exclude) if ln.strip()} if args.exclude else set()
        return print_sample(Path(args.mutants), args.sample, args.seed, exclude)
    names = [ln.strip() for ln in open(args.names) if ln.strip() and not ln.startswith("#")]
    deadline = None
    if args.until:
        h, m = map(int, args.until.split(":"))
        deadline = dt.datetime.now(dt.timezone.utc).replace(hour=h, minute=m, second=0, microsecond=0)
    work = Path(args.work).resolve()
    pristine = work.with_name(work.name + "-pristine")
    os.chdir(args.mutants)
    sys.path[:0] = [os.path.abspath("src"), os.path.abspath("tests")]
    os.environ["PYTHONPATH"] = os.pathsep.join([os.path.abspath("src"), os.environ.get("PYTHONPATH", "")])
    os.environ["FORGETSCOPE_TEST_PREBUILD"] = "1"  # conftest builds the tiny world and model on import, here, once
    os.environ["MUTANT_UNDER_TEST"] = ""
    os.environ["FORGETSCOPE_CACHE"] = str(work / "fscache")
    import forgetscope

    assert os.path.abspath("src") in forgetscope.__file__, f"not the mutated copy: {forgetscope.__file__}"
    importlib.import_module("conftest")
    for f in sorted({f for _, (f, _, _) in STUDY_TESTS.items()} | {INVARIANTS, "tests/test_report_trajectory.py", "tests/test_scorer.py",
                                                                   "tests/test_pattern_shift.py", "tests/test_restoration.py", "tests/test_cli_errors.py", *SCORING_UNITS, M1, M2, M3}
                    | {t.split("::")[0] for t in args.also}):
        importlib.import_module(Path(f).stem)  # once, here, not in every child
    if not (pristine / "done").exists():
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(pristine, ignore_errors=True)
        build_runs(work)
        shutil.copytree(work, pristine, symlinks=True)
        (pristine / "done").write_text("")
    runs = {s: (work / s / ("conjugate" if s == "conjugate" else "run"), None) for s in STUDY_TESTS}
    for s, (run, _) in runs.items():  # the config each fixture returns, as it wrote it
        import yaml

        runs[s] = (run, yaml.safe_load((run.parent / YAML[s]).read_text()))
    gc.collect()
    gc.freeze()
    for name in names:
        if deadline is not None and dt.datetime.now(dt.timezone.utc) > deadline:
            print("DEADLINE: the rest not run", flush=True)
            break
        control = name.startswith("control:")  # the module's tests on the original code: must survive
        module, _, function = (name.removeprefix("control:"), "", "") if control else name.rpartition(".")
        source = Path("src", *module.split(".")).with_suffix(".py")
        if not source.exists() or not control and f"def {function}(" not in source.read_text(encoding="utf-8"):
            print(f"UNKNOWN - {name}", flush=True)  # mutmut's switch would run the original code: it would "survive"
            continue
        units, forks, invariants = plan(module)
        killers = KILLERS.get(module.removeprefix("forgetscope."), [])  # after the study tests: a killed mutant stops sooner
        start = time.time()
        verdict = None
        for phase, tests in (("BEFORE", [*units, *args.also, *(f"{STUDY_TESTS[s][0]}::{t}" for s in forks for t in STUDY_TESTS[s][2]), *killers]),
                             ("AFTER", [*(f"{STUDY_TESTS[s][0]}::{ORACLE}" for s in forks), *invariants])):
            if phase == "BEFORE":  # the second phase reads the runs the first one resumed (its tests passed on them)
                shutil.rmtree(work, ignore_errors=True)
                shutil.copytree(pristine, work, symlinks=True)
                for study, first in forks.items():
                    drop_stages(runs[study][0], study, first)
                    if first <= BASE_STAGE.get(study, 0):  # the tests' fixtures pre-train their base in an empty cache
                        shutil.rmtree(work / study / "cache", ignore_errors=True)
                        shutil.rmtree(work / "fscache", ignore_errors=True)
            result = run_child("" if control else name, tests, runs, forks if phase == "BEFORE" else {}, work, args.timeout)
            if result in ("KILLED", "TIMEOUT"):
                verdict = f"{result}-{phase}"
                break
        print(f"{verdict or 'SURVIVED'} {time.time() - start:.1f}s {name}", flush=True)


if __name__ == "__main__":
    main()
