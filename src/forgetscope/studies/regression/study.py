"""The regression study's one record: config, summary, report, demo; the run is imported when it starts."""

from __future__ import annotations

from forgetscope.schema import RegressionSummary
from forgetscope.studies.registry import Study
from forgetscope.studies.regression.config import RegressionConfig

STUDY = Study("regression", RegressionConfig, "forgetscope.studies.regression.main:run_regression", RegressionSummary,
              report="forgetscope.report.regression:SECTION", demo="forgetscope:configs/demo-regression.yaml")
