"""The run-time guard that every sampled setting reached the run it configured.

A search is only as good as the path from `suggest` to the trainer: a sampled value dropped on
the way (a field left out when the training config is built, a default that wins over it) gives a
study whose stored parameters were never used, and whose "best settings" are fiction. After each
trial's run, its stored resolved config (what the trainer really used) is compared with what the
sampler drew; any difference fails the trial with the parameter named.

Where each sampled name lives in the resolved config: `arch` expands to the model's shape fields;
every other name must appear, with the same value, under `model` or `train` (a name found in
neither is a failure too, since nothing consumed it). The study's own fixed settings that shape
the model (RevIN and its stats path, the dataset's normalization) are checked the same way, by
section, so a study that says "RevIN with stats" cannot record trials that trained without.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fts.core.errors import FtsError

SECTIONS = ("model", "train")


class SampledParamLost(FtsError):
    """A sampled setting did not reach the resolved run config."""


def check_params_reached(params: Mapping[str, Any], resolved: Mapping[str, Any],
                         expand: Mapping[str, Callable[[Any], Mapping[str, Any]]],
                         fixed: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """Raise SampledParamLost naming every sampled value the resolved config does not carry.

    `expand` maps a sampled name that stands for several settings (such as `arch`) to a function
    giving those settings, each checked under `model`. `fixed` holds the study's own settings
    (not sampled, the same for every trial) by section of the resolved config, such as
    {"model": {"revin_stats": True}}: each must be there with that value too.
    """
    lost: list[str] = []
    for section, settings in (fixed or {}).items():
        have = resolved.get(section, {})
        lost += [f"{section}.{k}={v!r} (study setting; run has {have.get(k, 'nothing')!r})"
                 for k, v in settings.items() if have.get(k) != v]
    for name, value in params.items():
        if name in expand:
            model = resolved.get("model", {})
            lost += [f"{name}.{k}={v!r} (run has {model.get(k, 'nothing')!r})"
                     for k, v in expand[name](value).items() if model.get(k) != v]
            continue
        found = [resolved[s][name] for s in SECTIONS if name in resolved.get(s, {})]
        if not found:
            lost.append(f"{name}={value!r} (the run has no such setting)")
        elif any(f != value for f in found):
            lost.append(f"{name}={value!r} (run has {found[0]!r})")
    if lost:
        raise SampledParamLost("setting(s) did not reach the run: " + "; ".join(lost)
                               + ": the trial is failed, since its stored parameters were not used")
