"""Design-space analysis: error EDFs (plain and complexity-normalized), bootstrap bands, KS tests,
best-parameter bootstraps, random-search efficiency, RegNet fits and reports (REFERENCE section 3).

    >>> from analysis import edf, normalize, bootstrap_edf, ks_test, fit_regnet
    >>> # per-block widths -> d, w0, wa, wm, e_fit
    >>> fit_regnet([24, 56, 56, 152, 152, 152, 152]).e_fit
    0.0

The numerical modules need only numpy (scipy for the random-search curve); `analysis.report`,
`analysis.plots` and `analysis.data` import pandas and matplotlib and are imported on first use.
"""

from __future__ import annotations

from typing import Any

from analysis.edf import (
    Bins,
    Normalization,
    complexity_weights,
    edf,
    error_grid,
    normalize,
    overlap_range,
)
from analysis.errors import AnalysisError
from analysis.regnet_fit import (
    RegNetFit,
    add_efit_column,
    expand_stages,
    fit_regnet,
    population_trend,
)
from analysis.stats import (
    BestRange,
    BootstrapEDF,
    Interval,
    KSResult,
    best_parameter_bootstrap,
    bootstrap_edf,
    error_intervals,
    ks_distance,
    ks_test,
    random_search_curve,
)

__all__ = [
    "AnalysisError",
    "BestRange",
    "Bins",
    "BootstrapEDF",
    "Interval",
    "KSResult",
    "Normalization",
    "RegNetFit",
    "add_efit_column",
    "analyze",
    "best_parameter_bootstrap",
    "bootstrap_edf",
    "complexity_weights",
    "edf",
    "error_grid",
    "error_intervals",
    "expand_stages",
    "fit_regnet",
    "ks_distance",
    "ks_test",
    "load_frame",
    "normalize",
    "overlap_range",
    "population_trend",
    "random_search_curve",
    "records_to_frame",
]

_LAZY = {
    "analyze": "analysis.report",
    "load_frame": "analysis.data",
    "records_to_frame": "analysis.data",
}


def __getattr__(name: str) -> Any:
    """pandas / matplotlib users load on first access, so `nas` stays quick to start."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")
