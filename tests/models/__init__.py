"""Tests of models_torch: PatchTST, parameter counts, budgets, grid, memory estimate."""
