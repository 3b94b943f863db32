"""The HTML report: one self-contained file per run (plots embedded), rendered only from the run's
summary.json and result tables. Every text from models or data is HTML-escaped (Jinja autoescape)."""

from forgetscope.report.page import render_report, render_suite_report

__all__ = ["render_report", "render_suite_report"]
