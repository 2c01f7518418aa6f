"""Declared experiment matrices (`studies/*.toml`): run them cell by cell, resumably."""

from fts.experiments.matrix import Cell, Experiment, load_experiment
from fts.experiments.plan import plan_experiment
from fts.experiments.runner import run_experiment

__all__ = ["Cell", "Experiment", "load_experiment", "plan_experiment", "run_experiment"]
