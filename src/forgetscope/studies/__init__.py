"""The studies. Each is a recipe: a config, stages that read and write the run store, an analysis."""
