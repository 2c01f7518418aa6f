"""Which stored results of a report predate selection on the walk-forward folds.

An experiment resumed across the change can hold both kinds, and their numbers mean different
things: a format-1 final run stopped early on the last validation block and took its threshold
there (no `config["final"]`); a format-1 baseline chose its tree count and threshold on that
block alone. The report keeps them (they are what is stored) but says so in words and flags
them in the JSON, so a mixed experiment is never read as a clean one.
"""

from __future__ import annotations

from typing import Any

from fts.train.final import FINAL_FORMAT

#: The baselines' selection format (`fts.experiments.baselines.BASELINE_FORMAT`, which the
#: report may not import: experiments sit above report). A test keeps the two equal.
BASELINE_FORMAT = 2


def final_format(config: dict[str, Any]) -> int:
    """A final run's format: `config["final"]["format"]`, 1 for a run stored without it."""
    final = config.get("final")
    if not isinstance(final, dict):
        return 1
    return int(final.get("format", 1))


def baseline_format(body: dict[str, Any] | None) -> int | None:
    """A baseline's selection format from its manifest body (`selection.format`, else the
    manifest version); None when it has no manifest."""
    if not body:
        return None
    selection = body.get("selection")
    value = selection.get("format") if isinstance(selection, dict) else None
    if value is None:
        value = body.get("version", 1)
    try:
        return int(value)
    except (TypeError, ValueError):
        return 1


def format_caveats(old_cells: list[str], old_baselines: list[str],
                   unknown_baselines: list[str]) -> list[str]:
    """In words: the cells whose final runs and the baselines that are of an older format."""
    lines = []
    if old_cells:
        lines.append(f"Caveat: the final runs of {len(old_cells)} cell(s) ({', '.join(old_cells)}) "
                     f"are of an older format (no `config.final`, format < {FINAL_FORMAT}): "
                     "they stopped early on the last validation block and took their "
                     "threshold there, not a fixed epoch count and threshold from the folds.")
    if old_baselines:
        lines.append(f"Caveat: baseline(s) {', '.join(old_baselines)} are of an older format "
                     f"(< {BASELINE_FORMAT}): tree count and threshold chosen on the last "
                     "validation block alone, not on the walk-forward folds.")
    if unknown_baselines:
        lines.append(f"Caveat: baseline(s) {', '.join(unknown_baselines)} have no manifest: "
                     "their selection format is unknown.")
    return lines
