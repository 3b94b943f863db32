"""The cores this process may use: those it is pinned to, fewer under a container's CPU quota (cgroup v2
and v1 files, written here), never fewer than one."""

import os

from forgetscope.hardware import usable_cores

PINNED = len(os.sched_getaffinity(0))


def _write(root, name, text):
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_no_quota_is_the_pinned_cores(tmp_path):
    assert usable_cores(tmp_path) == PINNED  # no cgroup files at all
    _write(tmp_path, "cpu.max", "max 100000\n")
    assert usable_cores(tmp_path) == PINNED
    _write(tmp_path / "v1", "cpu/cpu.cfs_quota_us", "-1\n")
    _write(tmp_path / "v1", "cpu/cpu.cfs_period_us", "100000\n")
    assert usable_cores(tmp_path / "v1") == PINNED


def test_a_quota_caps_the_cores_rounded_up(tmp_path):
    _write(tmp_path, "cpu.max", "50000 100000\n")  # half a CPU: one core
    assert usable_cores(tmp_path) == 1
    _write(tmp_path / "v1", "cpu/cpu.cfs_quota_us", "100000\n")
    _write(tmp_path / "v1", "cpu/cpu.cfs_period_us", "100000\n")
    assert usable_cores(tmp_path / "v1") == 1
    _write(tmp_path / "big", "cpu.max", f"{(PINNED + 8) * 100000} 100000\n")  # more than it is pinned to
    assert usable_cores(tmp_path / "big") == PINNED
    if PINNED > 1:
        _write(tmp_path / "part", "cpu.max", f"{(PINNED - 1) * 100000 + 1} 100000\n")  # a little over PINNED - 1
        assert usable_cores(tmp_path / "part") == PINNED


def test_an_unreadable_quota_is_no_quota(tmp_path):
    _write(tmp_path, "cpu.max", "garbage\n")
    assert usable_cores(tmp_path) == PINNED
