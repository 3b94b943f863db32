"""The run store: atomic files and folders, completion records, unit locks."""

import json
import multiprocessing as mp
import os

import pytest

from forgetscope.store import RunStore, atomic_dir, atomic_write_json, atomic_write_text
from forgetscope.store.atomic import HOST_TAG, TMP_MARK, remove_stale_tmp


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


def _dead_pid() -> int:
    import subprocess

    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_stale_temporaries_are_removed_live_ones_kept(tmp_path):
    """A temporary names its writer (host, pid): a dead writer's is removed, a live one's (another
    process sharing the run folder) and another host's are kept; an unnamed one only once old."""
    dead = _dead_pid()
    (tmp_path / f"x.json{TMP_MARK}{HOST_TAG}-{dead}-ab12").write_text("half")
    (tmp_path / f"model{TMP_MARK}{HOST_TAG}-{dead}-cd34").mkdir()
    live = tmp_path / f"y.json{TMP_MARK}{HOST_TAG}-{os.getppid()}-ef56"
    other_host = tmp_path / f"z.json{TMP_MARK}0badc0de-{dead}-0000"
    unnamed_new, unnamed_old = tmp_path / "a.json.tmp-123", tmp_path / "b.json.tmp-456"
    for f in (live, other_host, unnamed_new, unnamed_old):
        f.write_text("half")
    os.utime(unnamed_old, (0, 0))
    (tmp_path / "keep.json").write_text("{}")
    remove_stale_tmp(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["keep.json", live.name, other_host.name, unnamed_new.name])


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


# -- checkable records: damage is found and the work done again, never used -----------------------
def _stage_with_files(tmp_path, files=None):
    st = RunStore(tmp_path / "run").stage("3_finetune", seed=0)
    st.reset()
    for name, data in (files or {"model/model.safetensors": b"w" * 100, "train_log.parquet": b"p" * 50}).items():
        (st.path / name).parent.mkdir(parents=True, exist_ok=True)
        (st.path / name).write_bytes(data)
    st.mark_done({"checkpoints": [3]})
    return st


def test_a_done_record_vouches_for_every_file(tmp_path):
    st = _stage_with_files(tmp_path)
    record = st.record()
    assert set(record["outputs"]) == {"model/model.safetensors", "train_log.parquet"}
    assert record["outputs"]["train_log.parquet"]["bytes"] == 50 and len(record["outputs"]["train_log.parquet"]["sha256"]) == 64
    assert st.check() is None and st.intact()


@pytest.mark.parametrize("damage, fragment", [
    (lambda p: (p / "model/model.safetensors").write_bytes(b"w" * 60), "model.safetensors: 60 bytes, its record says 100"),
    (lambda p: (p / "model/model.safetensors").write_bytes(b"x" * 100), "model.safetensors: its content differs"),
    (lambda p: (p / "train_log.parquet").unlink(), "train_log.parquet: missing"),
    (lambda p: (p / "_done.json").write_text("garbage{"), "_done.json: not a readable record"),
    (lambda p: (p / "_done.json").write_text('{"finished": "x", "checkpoints": [3]}'), "written by another forgetscope version"),
    (lambda p: (p / "_done.json").write_text("[1, 2]"), "not a JSON object"),
], ids=["truncated", "same-size-garbage", "missing", "garbage-record", "old-record", "record-not-object"])
def test_damage_is_found_and_the_stage_set_aside(tmp_path, capsys, damage, fragment):
    st = _stage_with_files(tmp_path)
    damage(st.path)
    assert not st.intact()
    err = capsys.readouterr().err
    assert fragment in err and "seed 0, stage 3_finetune is done again" in err and len(err.strip().splitlines()) == 1
    assert not st.done and (st.path / "_damaged.json").exists()  # what it vouched for, to compare the redone work with


def test_a_damaged_unit_alone_is_done_again(tmp_path, capsys):
    st = RunStore(tmp_path / "run").stage("4_evaluate", seed=0)
    st.start(["step-000001", "step-000002"])
    for u in ("step-000001", "step-000002"):
        (st.path / f"{u}.items.parquet").write_bytes(u.encode() * 10)
        st.mark_unit_done(u, {"n": 1})
    st.mark_done({"steps": [1, 2]}, units=["step-000001", "step-000002"])
    assert st.intact() and set(st.record()["unit_records"]) == {"step-000001", "step-000002"}
    (st.path / "step-000002.items.parquet").write_bytes(b"garbage parquet")
    assert not st.intact()
    assert "step-000002.items.parquet" in capsys.readouterr().err
    assert st.unit_done("step-000001") and not st.unit_done("step-000002")  # only the damaged unit is redone
    (st.path / "step-000001_done.json").write_text("{not json")
    st.start(["step-000001", "step-000002"])
    assert not st.unit_done("step-000001") and "step-000001_done.json: not a readable record" in capsys.readouterr().err


def test_a_redone_stage_with_other_results_makes_the_later_stages_redo(tmp_path, capsys):
    store = RunStore(tmp_path / "run")
    first = _stage_with_files(tmp_path)
    later = store.stage("4_evaluate", seed=0)
    later.start(["u"])
    (later.path / "u.items.parquet").write_bytes(b"x")
    later.mark_unit_done("u")
    later.mark_done(units=["u"])
    (first.path / "train_log.parquet").write_bytes(b"q" * 50)  # damaged
    assert not first.intact()
    first.reset()
    (first.path / "model").mkdir()
    (first.path / "model/model.safetensors").write_bytes(b"w" * 100)
    (first.path / "train_log.parquet").write_bytes(b"p" * 50)  # redone: the same as before
    first.mark_done({})
    assert later.intact()  # same results: nothing later to redo
    (first.path / "train_log.parquet").write_bytes(b"z" * 50)
    assert not first.intact()
    first.reset()
    (first.path / "train_log.parquet").write_bytes(b"other results")  # redone, differently (another machine, say)
    first.mark_done({})
    assert not later.done and not later.unit_done("u")
    assert "the stages after it (4_evaluate) are done again" in capsys.readouterr().err


def test_a_stage_folder_that_is_a_link_is_never_emptied(tmp_path):
    """The symlink proof: `run/seed-0/1_world -> ../../elsewhere`; reset, start and run_stage refuse,
    and nothing outside the run folder is touched."""
    from forgetscope.store import UnsafePath
    from forgetscope.studies.stages import run_stage

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.txt").write_text("keep me")
    (tmp_path / "run" / "seed-0").mkdir(parents=True)
    os.symlink("../../elsewhere", tmp_path / "run" / "seed-0" / "1_world")
    st = RunStore(tmp_path / "run").stage("1_world", seed=0)
    with pytest.raises(UnsafePath, match="1_world: is a symbolic link"):
        st.reset()
    with pytest.raises(UnsafePath):
        st.start()
    with pytest.raises(UnsafePath):
        run_stage(st, lambda _: {}, fresh=True)
    assert (elsewhere / "precious.txt").read_text() == "keep me"


def test_a_link_inside_a_stage_or_under_the_run_is_refused(tmp_path):
    from forgetscope.store import UnsafePath, atomic_dir
    from forgetscope.studies.stages import run_stage

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("x")
    st = RunStore(tmp_path / "run").stage("3_finetune", seed=0)
    (st.path / "checkpoints").mkdir(parents=True)
    os.symlink(outside, st.path / "checkpoints" / "step-000003")
    with pytest.raises(UnsafePath, match="step-000003: is a symbolic link"):
        run_stage(st, lambda _: {})
    with pytest.raises(UnsafePath):
        with atomic_dir(st.path / "checkpoints" / "step-000003", replace=True):
            pass
    assert (outside / "keep.txt").read_text() == "x"
    with pytest.raises(UnsafePath, match="outside"):
        RunStore(tmp_path / "run").guard.inside(tmp_path / "elsewhere")


def test_files_get_the_users_umask(tmp_path):
    import stat

    old = os.umask(0o022)
    os.umask(old)
    from forgetscope.store.atomic import UMASK

    f = atomic_write_text(tmp_path / "report.html", "x")
    assert stat.S_IMODE(f.stat().st_mode) == 0o666 & ~UMASK  # readable by the group sharing the folder under umask 022
    with atomic_dir(tmp_path / "model") as tmp:
        (tmp / "w").write_text("x")
    assert stat.S_IMODE((tmp_path / "model").stat().st_mode) == 0o777 & ~UMASK


def test_saved_model_weights_get_the_users_umask(tmp_path):
    """transformers' save_pretrained writes model.safetensors 0600 (a moved temporary); a checkpoint
    folder's files are as readable as the reports beside it."""
    import stat

    from transformers import GPT2Config, GPT2LMHeadModel

    from forgetscope.models.loading import save_model
    from forgetscope.store.atomic import UMASK

    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=32, n_positions=8, bos_token_id=0, eos_token_id=0))
    folder = save_model(model, None, tmp_path / "ck")
    modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in folder.iterdir()}
    assert modes["model.safetensors"] == 0o666 & ~UMASK, modes
    assert set(modes.values()) == {0o666 & ~UMASK}, modes


def test_prepare_run_cleans_every_stale_temporary_and_keeps_live_ones(tmp_path, smoke_config):
    from forgetscope.runs import prepare_run
    from forgetscope.studies.registry import STUDIES

    cfg = STUDIES.get("trajectory").config.model_validate({**smoke_config, "runtime": {"cache_dir": str(tmp_path / "cache")}})
    run = tmp_path / "run"
    prepare_run(run, cfg)
    dead = _dead_pid()
    stale = [run / "results" / f"items.parquet{TMP_MARK}{HOST_TAG}-{dead}-aa", run / "seed-0" / "6_restore" / f"x{TMP_MARK}{HOST_TAG}-{dead}-bb",
             tmp_path / "cache" / "bases" / f"0123abcd{TMP_MARK}{HOST_TAG}-{dead}-cc", run / f"summary.json{TMP_MARK}{HOST_TAG}-{dead}-dd"]
    live = run / "results" / f"bpb.parquet{TMP_MARK}{HOST_TAG}-{os.getppid()}-ee"
    for f in [*stale, live]:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text("half")
    prepare_run(run, cfg)
    assert not [f for f in stale if f.exists()] and live.exists()


def _start(args):
    from forgetscope.runs import prepare_run
    from forgetscope.studies.registry import STUDIES

    run, data = args
    prepare_run(run, STUDIES.get("trajectory").config.model_validate(data))


def test_the_manifest_is_updated_under_a_lock(tmp_path, smoke_config):
    """Four processes start the same run at once: every start is in "attempts" (none lost)."""
    run = tmp_path / "run"
    with mp.get_context("fork").Pool(4) as pool:
        pool.map(_start, [(run, smoke_config)] * 4)
    assert len(json.loads((run / "manifest.json").read_text())["attempts"]) == 4
    assert not list(run.glob("*.lock"))


@pytest.mark.parametrize("what, content, fragment", [
    ("config.yaml", "study: trajectory\nseeds: [0,\n", "config.yaml: damaged"),
    ("config.yaml", "- just\n- a list\n", "config.yaml: damaged (not a resolved forgetscope config)"),
    ("manifest.json", "\x00\x01garbage", "manifest.json: damaged"),
    ("README.txt", "not a run", "not empty and not a forgetscope run"),
], ids=["cut-config", "foreign-config", "garbage-manifest", "foreign-folder"])
def test_a_damaged_or_foreign_run_folder_is_refused_in_one_line(tmp_path, smoke_config, what, content, fragment):
    from forgetscope.errors import UserError
    from forgetscope.preflight import check_store
    from forgetscope.runs import prepare_run
    from forgetscope.studies.registry import STUDIES

    cfg = STUDIES.get("trajectory").config.model_validate(smoke_config)
    run = tmp_path / "run"
    if what == "manifest.json":
        prepare_run(run, cfg)
    run.mkdir(exist_ok=True)
    (run / what).write_text(content)
    before = sorted(p.name for p in run.iterdir())
    for check in (check_store, prepare_run):  # validate's check and the run's start
        with pytest.raises(UserError) as e:
            check(run, cfg)
        assert fragment in str(e.value) and "\n" not in str(e.value)
    assert sorted(p.name for p in run.iterdir()) == before  # nothing was written


def test_damaged_cache_entry_is_built_again(tmp_path, capsys):
    from forgetscope import cache

    src = tmp_path / "built"
    (src / "model").mkdir(parents=True)
    (src / "model" / "model.safetensors").write_bytes(b"w" * 64)
    cache.put("bases", "k1", src, str(tmp_path / "c"))
    assert cache.cached("bases", "k1", str(tmp_path / "c")) is not None
    (tmp_path / "c" / "bases" / "k1" / "model" / "model.safetensors").write_bytes(b"w" * 10)
    assert cache.cached("bases", "k1", str(tmp_path / "c")) is None
    assert "the cached base is built again" in capsys.readouterr().err
    assert not (tmp_path / "c" / "bases" / "k1").exists()


def test_a_damaged_checkpoint_is_never_resumed_from(tmp_path, capsys):
    import torch

    from forgetscope.training.checkpoints import CheckpointFolder

    ck = CheckpointFolder(tmp_path / "checkpoints")
    ck.model(4).mkdir(parents=True)
    (ck.model(4) / "model.safetensors").write_bytes(b"w" * 100)
    ck.save_state(4, {"optimizer": {}, "losses": [[1, 0.5]]})
    step, state = ck.resume_point([4, 8])
    assert step == 4 and state["losses"] == [[1, 0.5]]
    (ck.model(4) / "model.safetensors").write_bytes(b"w" * 99)
    assert ck.resume_point([4, 8]) == (0, None)
    assert "model.safetensors: 99 bytes" in capsys.readouterr().err
    ck.state_file(4).write_bytes(b"garbage")
    assert ck.resume_point([4, 8]) == (0, None)
    assert "state.pt: unreadable" in capsys.readouterr().err
    torch.save({"x": 1}, ck.state_file(4))  # a state file that vouches for nothing
    assert ck.resume_point([4, 8]) == (0, None)


def test_a_full_disk_names_the_file_a_library_was_writing(tmp_path, monkeypatch):
    """safetensors and torch.save refuse a full disk without an errno or a file name; the one line
    names what was being written (the folder atomic_dir was building, the file atomic_write_bytes wrote)."""
    from forgetscope.cli import system_error
    from forgetscope.store.atomic import atomic_write_bytes

    wrapped = 'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })'
    with pytest.raises(RuntimeError) as caught, atomic_dir(tmp_path / "checkpoint-10"):
        raise RuntimeError(wrapped)
    line = system_error(caught.value)
    assert line.startswith(f"No space left on device: {tmp_path / 'checkpoint-10'}: Error while serializing"), line
    assert "re-run the same command" in line

    def full(fd):
        raise OSError(28, "No space left on device")  # the flush to disk refused, without a file name

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as caught:
        atomic_write_bytes(tmp_path / "table.parquet", b"x")
    assert system_error(caught.value).startswith(f"No space left on device: {tmp_path / 'table.parquet'}")
    assert not list(tmp_path.glob("table.parquet*"))
