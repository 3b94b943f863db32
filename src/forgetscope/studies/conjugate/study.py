"""The conjugate study as the registry knows it: config, checks, summary; the run is imported when it starts."""

from __future__ import annotations

from forgetscope.schema import ConjugateSummary
from forgetscope.studies.conjugate.config import ConjugateConfig
from forgetscope.studies.conjugate.preflight import check
from forgetscope.studies.registry import Study

STUDY = Study("conjugate", ConjugateConfig, "forgetscope.studies.conjugate.main:run_conjugate", ConjugateSummary, preflight=check)
