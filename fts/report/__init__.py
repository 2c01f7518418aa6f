"""Reports: the statistics behind every claim (`fts.report.stats`)."""

from fts.report.stats import (
    METRICS,
    BootstrapCI,
    HolmComparison,
    PairedResult,
    PowerLawFit,
    block_bootstrap_ci,
    calibration_table,
    fit_power_law,
    holm,
    holm_labels,
    paired_bootstrap_test,
)

__all__ = [
    "METRICS",
    "BootstrapCI",
    "HolmComparison",
    "PairedResult",
    "PowerLawFit",
    "block_bootstrap_ci",
    "calibration_table",
    "fit_power_law",
    "holm",
    "holm_labels",
    "paired_bootstrap_test",
]
