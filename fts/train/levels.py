"""How PatchTST sees each channel's level: the dataset's normalization and the model's RevIN.

RevIN standardises each channel over its own window, so a window's level (RSI at 75 against
25, the close 8 % above its SMA-200) is gone before the first layer; with scale-free inputs
that level is much of the information. Two settings decide what reaches the model:

- `normalization` (a dataset setting, part of the dataset's identity): "revin" leaves the
  features raw and normalises each window inside the model; "train_zscore" standardises each
  feature with the training rows' mean and std and turns the model's RevIN OFF, so levels
  survive (comparable across windows and tickers); "none" feeds raw features, RevIN off.
- `revin_stats` (a model setting, only with "revin"): also hand each channel's window mean and
  log-std to the head, so the level RevIN removed comes back by another path. Left unset
  (None), it is on with "revin" and off otherwise; set, it is checked against the normalization.

Both end up in the resolved run config as the model fields `revin` and `revin_stats`.
"""

from __future__ import annotations

from fts.core.errors import ConfigError
from fts.datasets import NORMALIZATIONS

# The shipped default (`fts train`, `fts hpo`, the studies): see docs/training.md, "Channel
# levels", for the measurement behind it.
DEFAULT_NORMALIZATION = "revin"  # and revin_stats unset: on, since RevIN is
# What every run, study and cell had before the choice existed: a setting equal to this is left
# out of fingerprints, so results stored before it still match.
LEGACY = {"normalization": "revin", "revin_stats": False}


def level_options(normalization: str, revin_stats: bool | None = None) -> dict[str, bool]:
    """The PatchTSTConfig fields the choice decides: {"revin": ..., "revin_stats": ...}.

    `revin_stats` None means "on when RevIN is". Raises ConfigError for an unknown
    normalization, a `revin_stats` that is neither None nor a bool, or `revin_stats` True
    without RevIN (there are no window statistics to feed).
    """
    if normalization not in NORMALIZATIONS:
        raise ConfigError(f"normalization {normalization!r} is not one of {', '.join(NORMALIZATIONS)}")
    revin = normalization == "revin"
    if revin_stats is None:
        revin_stats = revin
    if not isinstance(revin_stats, bool):
        raise ConfigError(f"revin_stats must be true or false, got {revin_stats!r}")
    if revin_stats and not revin:
        raise ConfigError(f"revin_stats needs normalization 'revin' (got {normalization!r}): "
                          "without RevIN the model already sees each channel's level")
    return {"revin": revin, "revin_stats": revin_stats}
