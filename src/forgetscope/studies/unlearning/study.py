"""The unlearning study's one record: config, checks, summary, report; the run is imported when it starts."""

from __future__ import annotations

from forgetscope.studies.registry import Study
from forgetscope.studies.unlearning.config import UnlearningConfig
from forgetscope.studies.unlearning.preflight import check
from forgetscope.studies.unlearning.summary import UnlearningSummary

MAY_CHANGE = ("name", "analysis")  # what a run folder accepts as changed: re-analysis

STUDY = Study("unlearning", UnlearningConfig, "forgetscope.studies.unlearning.main:run_unlearning", UnlearningSummary,
              report="forgetscope.report.unlearning:SECTION", preflight=check, may_change=MAY_CHANGE)
