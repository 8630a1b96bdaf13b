"""Compositions of models, as pure functions over their typed results. No Ray."""
