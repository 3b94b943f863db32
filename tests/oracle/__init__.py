"""Independent oracles: each recomputes a study's summary.json from the run's own item-level files
with numpy, pandas and scipy only (never forgetscope.analysis), so a stage that routes the wrong
label, bin, seed or scale into a finding disagrees with it (issue 25)."""
