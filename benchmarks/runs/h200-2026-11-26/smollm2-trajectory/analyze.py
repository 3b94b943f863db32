"""How summary.json here was made: the analysis stage of the GPU run, on this machine, without the
interpolation restorer.

The run (configs/trajectory-smollm2-gpu.yaml on one NVIDIA H200) stopped at its device-time limit
with every LM-training restoration done (1x and 2x budget, 3 seeds) and 6 of the 18 weight
interpolation units; the checkpoints' weights stayed on the GPU machine. The analysis reads only the
probe tables (seed-*/4_evaluate, 6_restore), so it runs here on the two finished restorers, after
the unfinished interpolation files are removed from the copy:

    for d in RUN/seed-*/6_restore; do rm -f $d/interp-* $d/*.lock; done
    PYTHONPATH=src python benchmarks/runs/h200-2026-11-26/smollm2-trajectory/analyze.py RUN
"""

import sys

from forgetscope.config.loading import apply_overrides, load_yaml, validate_config
from forgetscope.report import render_report
from forgetscope.store import RunStore
from forgetscope.studies.trajectory.config import TrajectoryConfig
from forgetscope.studies.trajectory.s7_results_analyze import analyze
from forgetscope.studies.trajectory.study import STUDY

run = sys.argv[1]
data, lines = load_yaml(f"{run}/config.yaml")
data = apply_overrides(data, ["restore.restorers=[{name: lm_training, curve: [0.25, 0.5]}, {name: lm_training, budget: 2}]"])
cfg = validate_config(TrajectoryConfig, data, "config.yaml", lines)
store = RunStore(run)
analyze(cfg, store)
render_report(store, STUDY)
