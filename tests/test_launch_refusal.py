"""A study that cannot share its work over a launched process group refuses one: one line, exit 2,
before any compute. Before the refusal, the regression and unlearning studies hung under `torchrun`
(the main process broadcast from inside the study while the others waited at a barrier: both
smoke configs under `torchrun --nproc_per_node 2` were still waiting after 100-240 s, 2026-12-07)."""

from pathlib import Path

import pytest
from conftest import assert_one_line_error, run_cli

from forgetscope.studies.registry import STUDIES

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _launched_as(monkeypatch, rank: int) -> None:
    """This process as process `rank` of a group of two, as torchrun's environment says."""
    for name, value in (("WORLD_SIZE", "2"), ("RANK", str(rank)), ("LOCAL_RANK", str(rank))):
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("rank", [0, 1])
@pytest.mark.parametrize("study", ["regression", "unlearning", "recipes"])
def test_a_study_that_runs_in_one_process_refuses_a_launcher(study, rank, tmp_path, monkeypatch):
    _launched_as(monkeypatch, rank)
    proc = run_cli("run", CONFIGS / f"{study}-smoke.yaml", "--out", tmp_path / "run")
    assert_one_line_error(proc, f"the {study} study runs in one process", "without a launcher")
    assert not (tmp_path / "run").exists()  # nothing computed, nothing written


def test_the_launchable_studies_are_the_ones_whose_stages_share_their_work():
    """trajectory: tests/test_distributed.py runs it under torchrun; conjugate builds on it."""
    assert {name for name in STUDIES.names() if STUDIES.get(name).launchable} == {"trajectory", "conjugate"}
