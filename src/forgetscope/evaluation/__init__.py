"""Evaluation: probe items, the native batched scorer, scoring rules, pattern-shift metrics."""
