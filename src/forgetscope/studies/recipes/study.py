"""The recipes study's one record: config, checks, summary, report; the run is imported when it starts."""

from __future__ import annotations

from forgetscope.studies.recipes.config import RecipesConfig
from forgetscope.studies.recipes.preflight import check
from forgetscope.studies.recipes.summary import RecipesSummary
from forgetscope.studies.registry import Study

MAY_CHANGE = ("analysis",)  # a finished run re-analysed: every recipe's stages are reused

STUDY = Study("recipes", RecipesConfig, "forgetscope.studies.recipes.main:run_recipes", RecipesSummary,
              report="forgetscope.report.recipes:SECTION", preflight=check, may_change=MAY_CHANGE)
