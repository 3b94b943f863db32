"""A check of task names that the include folder alone defines reads that folder's own index (the one
`manager_for` runs them with), not lm-eval's whole index (10-15 s to build on a cold cache)."""

import pytest

from forgetscope.errors import UserError
from forgetscope.evaluation import lm_eval_tasks
from forgetscope.evaluation.lm_eval_tasks import check_lm_eval_tasks


def test_names_of_the_include_folder_alone_build_no_lm_eval_index(tmp_path, monkeypatch):
    monkeypatch.setenv("FORGETSCOPE_CACHE", str(tmp_path / "cache"))  # nothing kept: a full check would build
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "mine_only.yaml").write_text("task: mine_only\ndataset_path: json\noutput_type: multiple_choice\n"
                                           "doc_to_text: q\ndoc_to_choice: [a, b]\ndoc_to_target: 0\n")
    built = []
    real = lm_eval_tasks.task_manager

    def counting(include_defaults, include_path=()):
        built.append(include_defaults)
        return real(include_defaults, include_path)

    monkeypatch.setattr(lm_eval_tasks, "task_manager", counting)
    lm_eval_tasks._known_task_names.cache_clear()
    try:
        check_lm_eval_tasks(["mine_only"], [str(folder)])
        assert built == [False]  # the include folder's index, and no other
        assert lm_eval_tasks.manager_for(["mine_only"], [str(folder)]) is real(False, (str(folder.resolve()),))
        with pytest.raises(UserError, match="no such folder"):
            check_lm_eval_tasks(["mine_only"], [str(tmp_path / "missing")])
    finally:
        lm_eval_tasks._known_task_names.cache_clear()
