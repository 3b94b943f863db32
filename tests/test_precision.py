"""Mixed precision: the `auto` rule, and bf16 autocast really used (and close to fp32) in scoring and
training when asked for."""

import json
import time
from pathlib import Path

import pytest
import torch

from forgetscope import hardware, precision
from forgetscope.evaluation.scorer import NativeScorer
from forgetscope.training import LMBatches, TrainConfig, train


class _Big(torch.nn.Module):
    def __init__(self, n: int):
        super().__init__()
        self.w = torch.nn.Parameter(torch.empty(n), requires_grad=False)


@pytest.mark.parametrize("speedup", [4.0, 1.2])
def test_auto_is_bf16_only_for_real_models_on_fast_bf16_hardware(monkeypatch, speedup):
    monkeypatch.setattr(precision, "cpu_bf16_speedup", lambda: speedup)
    big, small = _Big(precision.AUTO_MIN_PARAMETERS), _Big(precision.AUTO_MIN_PARAMETERS - 1)
    assert precision.resolve("auto", "cpu", big) == ("bf16" if speedup == 4.0 else "no")
    assert precision.resolve("no", "cpu", big) == "no" and precision.resolve("bf16", "cpu", small) == "bf16"
    monkeypatch.setattr(precision, "cpu_bf16_speedup", lambda: pytest.fail("a tiny model measured the CPU"))
    assert precision.resolve("auto", "cpu", small) == "no"  # tiny synthetic models stay fp32, unmeasured


def test_bf16_only_when_clearly_faster():
    t = precision.BF16_MIN_SPEEDUP
    assert precision.bf16_pays(t) and precision.bf16_pays(6.5)  # AMX-BF16 measured 6.5x
    assert not precision.bf16_pays(t * 0.99) and not precision.bf16_pays(1.0)
    assert not precision.bf16_pays(0.04) and not precision.bf16_pays(float("nan"))  # emulated bf16: 0.04x


def _fake_timing(durations: dict[str, list[float]]):
    """A clock and functions whose calls take the given (injected) durations, in order."""
    now, calls = [0.0], []

    def make(name):
        def fn():
            calls.append(name)
            now[0] += durations[name][sum(c == name for c in calls) - 1]
        return fn

    return {name: make(name) for name in durations}, (lambda: now[0]), calls


def test_best_seconds_interleaves_and_stops_at_its_budget():
    fns, clock, calls = _fake_timing({"fp32": [0.75, 0.5, 0.625], "bf16": [0.25, 0.125, 0.1875]})  # exact in binary
    assert precision.best_seconds(fns, rounds=3, budget_s=10.0, clock=clock) == {"fp32": 0.5, "bf16": 0.125}
    assert calls == ["fp32", "bf16"] * 3  # interleaved: a burst of load slows both kinds alike
    fns, clock, calls = _fake_timing({"fp32": [0.0625] * 8, "bf16": [0.5] * 8})  # emulated bf16: one slow call
    assert precision.best_seconds(fns, rounds=8, budget_s=0.3, clock=clock) == {"fp32": 0.0625, "bf16": 0.5}
    assert calls == ["fp32", "bf16"]


@pytest.fixture
def fresh_speedup(tmp_path, monkeypatch):
    """No measurement kept in this process or on disk (another test of the session may have measured)."""
    monkeypatch.setenv("FORGETSCOPE_CACHE", str(tmp_path / "cache"))
    precision.cpu_bf16_speedup.cache_clear()
    yield
    precision.cpu_bf16_speedup.cache_clear()


def test_speedup_is_measured_once_per_machine_and_again_when_damaged(monkeypatch, fresh_speedup):
    measured = []

    def fake():
        measured.append(1)
        return {"fp32_s": 0.012, "bf16_s": 0.003, "speedup": 4.0}

    monkeypatch.setattr(precision, "measure_bf16_speedup", fake)
    path = precision.speed_cache_path()
    assert not path.exists()
    assert precision.cpu_bf16_speedup() == 4.0 and len(measured) == 1
    record = json.loads(path.read_text())
    assert record["speedup"] == 4.0 and record["cpu"] == hardware.cpu_summary() and record["torch"] == torch.__version__
    precision.cpu_bf16_speedup.cache_clear()  # a later process: the cache file answers
    assert precision.cpu_bf16_speedup() == 4.0 and len(measured) == 1
    for damaged in ('{"speedup": 4.', '{"speedup": "fast"}', '{"speedup": -1.0}', "[]"):
        path.write_text(damaged)
        precision.cpu_bf16_speedup.cache_clear()
        assert precision.cpu_bf16_speedup() == 4.0
        assert json.loads(path.read_text())["speedup"] == 4.0  # rewritten
    assert len(measured) == 5
    monkeypatch.setattr(torch, "__version__", "9.9.9")  # another torch measures again
    assert precision.speed_cache_path() != path


def test_cpu_summary_reads_cpuinfo():
    text = Path("/proc/cpuinfo").read_text().splitlines()
    flags = next(line.split(":")[1].split() for line in text if line.startswith("flags"))
    name = next(line.split(":", 1)[1].strip() for line in text if line.startswith("model name"))
    summary = hardware.cpu_summary()
    assert summary["model"] == name
    assert summary["flags"] == [f for f in hardware.SPEED_FLAGS if f in flags] and "avx2" in flags  # the test can tell


def test_speedup_measured_on_this_cpu_matches_its_instructions(fresh_speedup):
    """Where the CPU has bf16 instructions (AVX512-BF16, AMX-BF16) `auto` finds bf16 faster; an x86
    CPU without them emulates bf16 and finds it slower. Quick, and torch's threads are left as they were."""
    threads = torch.get_num_threads()
    t0 = time.perf_counter()
    r = precision.measure_bf16_speedup()
    assert time.perf_counter() - t0 < 3.0 and torch.get_num_threads() == threads
    assert r["speedup"] == pytest.approx(r["fp32_s"] / r["bf16_s"]) and r["fp32_s"] > 0
    flags = hardware.cpuinfo()[1]
    assert precision.bf16_pays(r["speedup"]) == bool({"avx512_bf16", "amx_bf16"} & set(flags))


def test_scorer_bf16_autocast_is_used_and_close_to_fp32(tiny_lm):
    model, tok = tiny_lm
    reqs = [("alice-baker was born in", " paris"), ("what is 4 plus", " 7 ?"), ("the employer of bruno-costa is", " acme")]
    fp32 = NativeScorer(model, tok, mixed_precision="no")
    bf16 = NativeScorer(model, tok, mixed_precision="bf16")
    assert (fp32.mixed_precision, bf16.mixed_precision) == ("no", "bf16")
    a, b = fp32.loglikelihood(reqs), bf16.loglikelihood(reqs)
    diffs = [abs(x.logprob - y.logprob) for x, y in zip(a, b, strict=True)]
    assert max(diffs) > 0  # autocast ran: bf16 matmuls round differently
    assert max(diffs) < 0.1 * max(1.0, max(abs(x.logprob) for x in a))
    assert NativeScorer(model, tok).mixed_precision == "no"  # auto, process default: a tiny model stays fp32


def test_scorer_takes_the_process_setting(tiny_lm, monkeypatch):
    model, tok = tiny_lm
    monkeypatch.setattr(precision, "_scoring", "bf16")
    assert NativeScorer(model, tok).mixed_precision == "bf16"


def test_training_resolves_and_uses_bf16(tiny_lm):
    model, tok = tiny_lm
    texts = ["alice-baker was born in paris . the pet of nora-xu is called kiwi ."] * 8
    batches = LMBatches(texts, tok, max_length=16, seed=0)
    losses = {}
    for mode in ("no", "bf16", "auto"):
        m = type(model)(model.config)
        m.load_state_dict(model.state_dict())
        r = train(m, batches, TrainConfig(steps=2, batch_size=4, lr=1e-3, max_length=16, mixed_precision=mode),
                  seed=0, local=True, device="cpu")
        assert r.mixed_precision == ("no" if mode == "auto" else mode)
        assert next(m.parameters()).dtype == torch.float32  # fp32 master weights
        losses[mode] = r.losses
    assert losses["auto"] == losses["no"]
    assert losses["bf16"] != losses["no"] and losses["bf16"][0] == pytest.approx(losses["no"][0], rel=0.05)


def test_manifest_records_the_cpu(tmp_path):
    """Figures move with the instruction set: a run's manifest names the CPU and its flags beside torch's version."""
    from pydantic import BaseModel

    from forgetscope.runs import prepare_run

    class Cfg(BaseModel):
        study: str = "trajectory"

    store = prepare_run(tmp_path / "run", Cfg())
    manifest = json.loads(store.manifest_path.read_text())
    assert manifest["cpu"] == hardware.cpu_summary() and manifest["cpu"]["model"] and manifest["torch"] == torch.__version__
