"""The run store: atomic files and folders, completion records, unit locks."""

import json
import multiprocessing as mp
import os

import pytest

from forgetscope.store import RunStore, atomic_dir, atomic_write_json, atomic_write_text
from forgetscope.store.atomic import remove_stale_tmp


def test_atomic_write_replaces_whole_file(tmp_path):
    f = tmp_path / "a" / "x.json"
    atomic_write_json(f, {"a": 1})
    atomic_write_text(f, '{"a": 2}')
    assert json.loads(f.read_text()) == {"a": 2}
    assert [p.name for p in f.parent.iterdir()] == ["x.json"]


def test_atomic_dir_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "model"
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "half.bin").write_text("x")
        raise RuntimeError("killed")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with atomic_dir(target) as tmp:
        (tmp / "w").write_text("ok")
    assert (target / "w").read_text() == "ok"


def test_stale_temporaries_are_removed(tmp_path):
    (tmp_path / "x.json.tmp-123").write_text("half")
    (tmp_path / "model.tmp-abc").mkdir()
    (tmp_path / "keep.json").write_text("{}")
    remove_stale_tmp(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.json"]


def test_stage_done_only_after_record(tmp_path):
    st = RunStore(tmp_path).stage("3_finetune", seed=0)
    assert not st.done
    st.reset()
    (st.path / "out.txt").write_text("x")
    assert not st.done
    st.mark_done({"n": 1})
    assert st.done and st.record()["n"] == 1
    assert not st.unit_done("u")
    st.mark_unit_done("u")
    assert st.unit_done("u")


def test_claim_is_exclusive_and_released(tmp_path):
    st = RunStore(tmp_path).stage("6_restore", seed=0)
    with st.claim("u1") as a:
        assert a
        with st.claim("u1") as b:  # the same process asks again: held
            assert not b
    with st.claim("u1") as c:
        assert c


def test_lock_of_a_dead_process_is_stale(tmp_path):
    st = RunStore(tmp_path).stage("6_restore", seed=0)
    st.path.mkdir(parents=True)
    p = mp.get_context("spawn").Process(target=os.getpid)
    p.start()
    p.join()
    import socket

    (st.path / "u.lock").write_text(json.dumps({"host": socket.gethostname(), "pid": p.pid}))
    with st.claim("u") as got:
        assert got


def test_git_source_modified(tmp_path):
    import subprocess

    from forgetscope.runs import git_source_modified

    assert git_source_modified(tmp_path) is None  # not a checkout
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "a.py").write_text("x = 1\n")
    subprocess.run([*git, "add", "a.py"], check=True)
    subprocess.run([*git, "commit", "-qm", "a"], check=True)
    (tmp_path / "untracked.txt").write_text("not source\n")
    assert git_source_modified(tmp_path) is False
    (tmp_path / "a.py").write_text("x = 2\n")
    assert git_source_modified(tmp_path) is True
