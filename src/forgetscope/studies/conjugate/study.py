"""The conjugate study's one record: config, checks, summary, report, demo; the run is imported when it starts."""

from __future__ import annotations

from forgetscope.schema import ConjugateSummary
from forgetscope.studies.conjugate.config import ConjugateConfig
from forgetscope.studies.conjugate.preflight import check
from forgetscope.studies.registry import Study

STUDY = Study("conjugate", ConjugateConfig, "forgetscope.studies.conjugate.main:run_conjugate", ConjugateSummary,
              report="forgetscope.report.conjugate:SECTION",
              demo="forgetscope:configs/demo-conjugate.yaml",  # reads the trajectory demo's models: registered after it
              preflight=check, launchable=True)
