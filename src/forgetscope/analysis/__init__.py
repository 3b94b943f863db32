"""Analysis: pure functions over tidy result tables (no models, no files)."""
