"""The trajectory study's one record: config, checks, summary, report, demo; the run is imported when it starts."""

from __future__ import annotations

from forgetscope.schema import TrajectorySummary
from forgetscope.studies.registry import Study
from forgetscope.studies.trajectory.config import TrajectoryConfig
from forgetscope.studies.trajectory.preflight import check

MAY_CHANGE = ("name", "analysis", "eval", "restore")  # what a run folder accepts as changed: re-analysis, new evaluations

STUDY = Study("trajectory", TrajectoryConfig, "forgetscope.studies.trajectory.main:run_trajectory", TrajectorySummary,
              report="forgetscope.report.trajectory:SECTION", demo="forgetscope:configs/demo-trajectory.yaml",
              preflight=check, may_change=MAY_CHANGE, launchable=True)
