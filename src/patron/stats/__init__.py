"""Research statistics for survey analysis: a pure library (numpy/scipy/pandas only).

Every function takes a :class:`pandas.DataFrame` (``data=``) and named columns, and returns a documented
DataFrame or a frozen result object with ``.to_frame()``. Names follow the literature and are the same
everywhere: ``chi2``, ``df``, ``pvalue``, ``rmsea``, ``cfi``, ``tli``, ``srmr``, ``alpha``, ``cr``, ``ave``,
``htmt``. Bad input raises :class:`StatsInputError` (a :class:`ValueError`) naming the column.

This package imports nothing from the rest of Patron. See ``docs/stats.md``.
"""

from patron.stats._validation import (
    ConvergenceError,
    ModelSpecificationError,
    StatsInputError,
    StatsWarning,
)
from patron.stats.cbsem import CBSEMResult, cfa, sem
from patron.stats.cx import csat, nps, servqual, servqual_change
from patron.stats.descriptives import construct_scores, describe, frequencies
from patron.stats.discriminant import fornell_larcker, htmt
from patron.stats.efa import EFAResult, bartlett_sphericity, efa, kmo
from patron.stats.inference import (
    correlation_matrix,
    friedman,
    independent_t,
    normality,
    one_sample_t,
    paired_t,
)
from patron.stats.pls import PLSBootstrap, PLSResult, pls_sem
from patron.stats.reliability import (
    average_variance_extracted,
    composite_reliability,
    cronbach_alpha,
    mcdonald_omega,
)
from patron.stats.sampling import cochran_sample_size, krejcie_morgan_sample_size
from patron.stats.syntax import parse_model
from patron.stats.validity import content_validity, lawshe_critical_value

__all__ = [
    "CBSEMResult",
    "ConvergenceError",
    "EFAResult",
    "ModelSpecificationError",
    "PLSBootstrap",
    "PLSResult",
    "StatsInputError",
    "StatsWarning",
    "average_variance_extracted",
    "bartlett_sphericity",
    "cfa",
    "cochran_sample_size",
    "composite_reliability",
    "construct_scores",
    "content_validity",
    "correlation_matrix",
    "cronbach_alpha",
    "csat",
    "describe",
    "efa",
    "fornell_larcker",
    "frequencies",
    "friedman",
    "htmt",
    "independent_t",
    "kmo",
    "krejcie_morgan_sample_size",
    "lawshe_critical_value",
    "mcdonald_omega",
    "normality",
    "nps",
    "one_sample_t",
    "paired_t",
    "parse_model",
    "pls_sem",
    "sem",
    "servqual",
    "servqual_change",
]
