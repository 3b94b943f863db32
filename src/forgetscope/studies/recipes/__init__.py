"""The recipes study: which fine-tuning recipe forgets less, pseudo and actual apart (docs/recipes.md)."""
