"""Checking a config is quick: `forgetscope validate`, `schema`, and a `run` whose config is wrong
never import torch, transformers, pandas, scipy or lm-eval (seconds of imports per fresh process),
unless the config names something only they can check (a pretrained model, an lm-eval task)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "pandas", "scipy", "lm_eval", "peft", "trl", "datasets", "accelerate", "matplotlib")

# In a fresh interpreter (this one has torch already): run the CLI's main on each argv, then report
# which heavy libraries are loaded and each command's exit code.
PROBE = """
import json, sys
from forgetscope.cli import main
commands, heavy = json.loads(sys.argv[1]), json.loads(sys.argv[2])
codes = []
for argv in commands:
    sys.argv = ["forgetscope", *argv]
    try:
        main()
        codes.append(0)
    except SystemExit as e:
        codes.append(e.code or 0)
print(json.dumps({"codes": codes, "loaded": sorted(m for m in heavy if m in sys.modules)}))
"""


def _fresh(commands: list[list[str]], tmp_path) -> dict:
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(commands), json.dumps(HEAVY)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)  # configs name repository paths
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_checking_the_demo_configs_imports_no_heavy_library(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "src" / "forgetscope" / "configs" / "demo-trajectory.yaml").read_text().replace("lr: 0.002", "lr: -1"))
    commands = [
        ["validate", str(ROOT / "src" / "forgetscope" / "configs" / "demo-trajectory.yaml")],
        ["validate", str(ROOT / "configs" / "regression-demo.yaml")],
        ["validate", str(ROOT / "src" / "forgetscope" / "configs" / "demo-conjugate.yaml")],
        ["validate", "--print", str(ROOT / "configs" / "conjugate-smoke.yaml")],
        ["schema", "trajectory"],
        ["run", str(bad), "--out", str(tmp_path / "never")],
    ]
    out = _fresh(commands, tmp_path)
    assert out["codes"] == [0, 0, 0, 0, 0, 2]  # the bad config is refused (a UserError exits 2)
    assert out["loaded"] == []
    assert not (tmp_path / "never").exists()


def test_the_probe_sees_a_heavy_import(tmp_path):
    """The check above can fail: a command that needs torch (convert-gguf quiets torch's and
    transformers' loggers before it looks at its file) is seen loading it."""
    out = _fresh([["convert-gguf", str(tmp_path / "missing.gguf"), str(tmp_path / "model")]], tmp_path)
    assert out["codes"] != [0]
    assert "torch" in out["loaded"]


def test_eval_and_compare_refuse_a_bad_folder_or_file_before_torch(tmp_path):
    """`eval ./not-a-model` answered after 15-25 s of imports; the command line's local folders and
    files are checked first, every problem named."""
    folder = tmp_path / "not-a-model"
    folder.mkdir()
    commands = [["eval", str(folder), "--probes", str(tmp_path / "p.jsonl")],
                ["compare", str(folder), str(tmp_path / "missing"), "--restore-data", str(tmp_path / "r.jsonl")]]
    out = _fresh(commands, tmp_path)
    assert out["codes"] == [2, 2]
    assert out["loaded"] == []
