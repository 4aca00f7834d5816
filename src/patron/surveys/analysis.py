"""One survey analysis: a table of answers plus a lavaan-style model in, one JSON-able result out.

:func:`analyze` runs what a CX study reports, in the order a reader meets it: sample (rows used and rows
dropped listwise), the structural model (CB-SEM by maximum likelihood, or PLS-SEM with a bootstrap), fit
indices, reliability (Cronbach's alpha, composite reliability, AVE, omega or rho_A), discriminant validity
(Fornell-Larcker, HTMT), descriptives and normality per item and construct, a Friedman ranking of the
constructs, one-sample t-tests against the scale midpoint, answer distributions for the charts, and, when
asked, NPS, CSAT and SERVQUAL. Every number comes from :mod:`patron.stats`; this module only arranges
them, turns them into plain Python (no NaN, no infinities: ``None`` plus a sentence in ``warnings``) and
states the rule-of-thumb thresholds the report marks figures against.

Bad input raises :class:`patron.stats.StatsInputError` (a ``ValueError`` naming the column); a fit that
did not converge is not an error but a warning in the result.
"""

from __future__ import annotations

import math
import warnings as _warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from patron import stats
from patron.stats import StatsInputError, StatsWarning

__all__ = ["METHODS", "THRESHOLDS", "AnalysisSpec", "analyze", "passes"]

METHODS = ("cb-sem", "pls")

#: lavaan's fit measures, in the order the report lists them
CBSEM_FIT_KEYS = (
    "chi2", "df", "pvalue", "chi2_df", "rmsea", "rmsea_ci_low", "rmsea_ci_high", "rmsea_pvalue", "cfi", "tli",
    "srmr", "gfi", "agfi", "nfi", "ifi", "aic", "bic", "loglik", "npar", "baseline_chi2", "baseline_df",
)  # fmt: skip

#: rule-of-thumb thresholds the report marks figures against: ``min`` (pass when >=) or ``max`` (pass when <=)
THRESHOLDS: dict[str, dict[str, Any]] = {
    "alpha": {"min": 0.7, "label": "Cronbach's alpha", "source": "Nunnally (1978)"},
    "omega": {"min": 0.7, "label": "McDonald's omega", "source": "McDonald (1999); Nunnally (1978) cut-off"},
    "rho_a": {"min": 0.7, "label": "rho_A", "source": "Dijkstra & Henseler (2015)"},
    "cr": {"min": 0.7, "label": "Composite reliability", "source": "Fornell & Larcker (1981)"},
    "ave": {"min": 0.5, "label": "Average variance extracted", "source": "Fornell & Larcker (1981)"},
    "loading": {"min": 0.5, "label": "Standardised loading", "source": "Hair et al. (2010)"},
    "loading_retain": {
        "min": 0.3,
        "label": "Lowest standardised loading retained",
        "source": "Hair et al. (2010): 0.30 to 0.40 minimally acceptable",
    },
    "t": {"min": 1.96, "label": "|t| (or |z|)", "source": "two-sided test at the 5 % level"},
    "pvalue": {"max": 0.05, "label": "p-value", "source": "5 % significance level"},
    "chi2_df": {"max": 3.0, "label": "chi2 / df", "source": "Kline (1998)"},
    "rmsea": {"max": 0.08, "label": "RMSEA", "source": "Browne & Cudeck (1993)"},
    "cfi": {"min": 0.95, "label": "CFI", "source": "Hu & Bentler (1999)"},
    "tli": {"min": 0.95, "label": "TLI", "source": "Hu & Bentler (1999)"},
    "srmr": {"max": 0.08, "label": "SRMR", "source": "Hu & Bentler (1999)"},
    "gfi": {"min": 0.90, "label": "GFI", "source": "Joreskog & Sorbom (1984)"},
    "agfi": {"min": 0.80, "label": "AGFI", "source": "Etezadi-Amoli & Farhoomand (1996)"},
    "nfi": {"min": 0.90, "label": "NFI", "source": "Bentler & Bonett (1980)"},
    "ifi": {"min": 0.90, "label": "IFI", "source": "Bollen (1989)"},
    "htmt": {"max": 0.85, "label": "HTMT", "source": "Henseler, Ringle & Sarstedt (2015)"},
}

_DISTRIBUTION_MAX_POINTS = 21  # wider scales (0-100 sliders) are shown in 10 equal bins


@dataclass(frozen=True)
class AnalysisSpec:
    """What to analyse and how.

    Attributes
    ----------
    model : str
        lavaan syntax: ``=~`` measurement, ``~`` regression, ``~~`` covariance.
    method : {"cb-sem", "pls"}
    scale : (float, float) or None
        Answer range, e.g. ``(1, 5)``; ``None`` infers it from the smallest and largest answer of the
        model's item columns (rounded down and up to whole numbers).
    midpoint : float or None
        Reference value of the one-sample t-tests; ``None`` is the middle of the scale (3 on 1-5).
    n_boot, seed : int
        PLS bootstrap resamples and their seed.
    nps, csat : str or None
        Column of a 0-10 recommendation answer (NPS section) / of a 1..k satisfaction rating (CSAT).
    servqual : dict or None
        Dimension -> ``{"expectation": [...], "perception": [...]}`` (columns paired in order).
    title : str
    """

    model: str
    method: str = "cb-sem"
    scale: tuple[float, float] | None = None
    midpoint: float | None = None
    n_boot: int = 500
    seed: int = 1
    nps: str | None = None
    csat: str | None = None
    servqual: dict[str, dict[str, list[str]]] | None = None
    title: str = "Survey analysis"


def passes(key: str, value: float | None) -> bool | None:
    """Whether ``value`` meets the threshold named ``key`` in :data:`THRESHOLDS` (None if unknown/undefined).

    >>> passes("cfi", 0.931), passes("rmsea", 0.05), passes("alpha", None)
    (False, True, None)
    """
    rule = THRESHOLDS.get(key)
    if rule is None or value is None or not math.isfinite(value):
        return None
    if "min" in rule:
        return bool(value >= rule["min"])
    return bool(value <= rule["max"])


def _clean(value: Any) -> Any:
    """Plain Python for JSON: numpy scalars unwrapped, NaN and infinities become None."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _records(frame: pd.DataFrame, index_name: str | None = None) -> list[dict[str, Any]]:
    if index_name is not None:
        frame = frame.rename_axis(index_name).reset_index()
    return _clean(frame.to_dict(orient="records"))


def _matrix(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    return {str(r): {str(c): _clean(float(frame.loc[r, c])) for c in frame.columns} for r in frame.index}


# --------------------------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class _Layout:
    constructs: dict[str, list[str]]  # construct -> its indicators as written (may include constructs)
    observed: list[str]  # every observed variable of the model, in order of appearance
    paths: list[tuple[str, str]]  # (lhs, rhs) of each ~ statement

    def observed_items(self, construct: str) -> list[str]:
        return [i for i in self.constructs[construct] if i not in self.constructs]

    def construct_of(self, item: str) -> str | None:
        return next((c for c, items in self.constructs.items() if item in items), None)


def _layout(model: str) -> _Layout:
    statements = stats.parse_model(model)
    constructs: dict[str, list[str]] = {}
    for s in statements:
        if s.op == "=~":
            constructs.setdefault(s.lhs, []).append(s.rhs)
    observed: list[str] = []
    for s in statements:
        for name in (s.lhs, s.rhs):
            if name not in constructs and name not in observed:
                observed.append(name)
    paths = [(s.lhs, s.rhs) for s in statements if s.op == "~"]
    return _Layout(constructs, observed, paths)


def _check_spec(spec: AnalysisSpec) -> None:
    if spec.method not in METHODS:
        raise StatsInputError(f"method must be one of {', '.join(METHODS)}, got {spec.method!r}")
    if not isinstance(spec.n_boot, int) or spec.n_boot < 10:
        raise StatsInputError(f"n_boot must be a whole number of at least 10, got {spec.n_boot!r}")
    if spec.scale is not None:
        lo, hi = spec.scale
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise StatsInputError(f"scale must be two numbers, the lower first, got {spec.scale!r}")
    if spec.midpoint is not None and not math.isfinite(spec.midpoint):
        raise StatsInputError(f"midpoint must be a finite number, got {spec.midpoint!r}")


def _numeric(data: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    from patron.stats._validation import numeric_columns

    return numeric_columns(data, columns, min_rows=0, allow_missing=True, allow_constant=True)


# --------------------------------------------------------------------------------------------- analyse


def analyze(data: pd.DataFrame, spec: AnalysisSpec) -> dict:
    """Analyse survey answers with a structural model and everything a CX study reports around it.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per respondent, one column per item (column names as in the model).
    spec : AnalysisSpec

    Returns
    -------
    dict
        Plain JSON-able values only (no NaN). Keys: ``title``, ``method``, ``model``, ``n``, ``n_dropped``,
        ``scale``, ``midpoint``, ``constructs``, ``converged``, ``fit``, ``quality`` (PLS), ``estimates``,
        ``r2``, ``reliability``, ``validity``, ``descriptives``, ``normality``, ``friedman``,
        ``one_sample_t``, ``distributions``, ``nps``/``csat``/``servqual`` (when asked), ``warnings`` and
        ``thresholds``. See ``docs/surveys.md``.

    Raises
    ------
    patron.stats.StatsInputError
        Unknown method or column, non-numeric cells, constant items, too few complete rows, answers outside
        the given scale, or a model that cannot be parsed or identified (``ModelSpecificationError``).

    Examples
    --------
    >>> # result = analyze(answers, AnalysisSpec("loyalty =~ l1 + l2 + l3"))
    >>> # result["fit"]["cfi"], result["reliability"]["loyalty"]["alpha"]
    """
    if not isinstance(data, pd.DataFrame):
        raise StatsInputError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    _check_spec(spec)
    layout = _layout(spec.model)
    if not layout.constructs:
        raise stats.ModelSpecificationError("the model defines no construct (use =~ to list its items)")
    data = data.rename(columns=str)
    extra = [c for c in (spec.nps, spec.csat) if c]
    for dimension in (spec.servqual or {}).values():
        extra += [c for side in ("expectation", "perception") for c in dimension.get(side, [])]
    for column in layout.observed + extra:
        if column not in data.columns:
            raise StatsInputError(f"column {column!r} is not in the data", column=column)

    frame = _numeric(data, layout.observed)
    complete = frame.dropna()
    n_dropped = len(frame) - len(complete)
    warnings: list[str] = []
    if n_dropped:
        warnings.append(
            f"{n_dropped} of {len(frame)} rows had missing answers in the model's columns and were dropped "
            "(listwise deletion)"
        )
    min_rows = max(len(layout.observed) + 1, 5)
    if len(complete) < min_rows:
        raise StatsInputError(
            f"need at least {min_rows} complete rows for this model, got {len(complete)}"
            + (f" ({n_dropped} dropped for missing answers)" if n_dropped else "")
        )
    scale = _scale(complete, spec.scale)
    midpoint = float(spec.midpoint) if spec.midpoint is not None else (scale[0] + scale[1]) / 2.0

    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore", StatsWarning)
        if spec.method == "cb-sem":
            model_part = _cbsem(spec, layout, complete, warnings)
        else:
            model_part = _pls(spec, layout, complete, warnings)
        survey_part = _survey_tables(layout, complete, scale, midpoint, warnings)
        cx_part = _cx(spec, data, scale, warnings)

    result: dict[str, Any] = {
        "title": spec.title,
        "method": spec.method,
        "model": spec.model,
        "n": len(complete),
        "n_dropped": n_dropped,
        "scale": [scale[0], scale[1]],
        "midpoint": midpoint,
        "constructs": {c: list(items) for c, items in layout.constructs.items()},
        "paths": [[lhs, rhs] for lhs, rhs in layout.paths],
        **model_part,
        **survey_part,
        **cx_part,
        "warnings": list(dict.fromkeys(warnings)),
        "thresholds": _clean(THRESHOLDS),
    }
    if spec.method == "pls":
        result["n_boot"] = spec.n_boot
        result["seed"] = spec.seed
    return _clean(result)


def _scale(frame: pd.DataFrame, given: tuple[float, float] | None) -> tuple[float, float]:
    if given is None:
        values = frame.to_numpy()
        lo, hi = float(math.floor(values.min())), float(math.ceil(values.max()))
        if lo == hi:
            hi = lo + 1.0
        return lo, hi
    lo, hi = float(given[0]), float(given[1])
    for column in frame.columns:
        outside = frame[column][(frame[column] < lo) | (frame[column] > hi)]
        if len(outside):
            raise StatsInputError(
                f"column {column!r} has the answer {outside.iloc[0]:g} outside the scale {lo:g}-{hi:g}",
                column=column,
            )
    return lo, hi


# --------------------------------------------------------------------------------------------- CB-SEM


def _cbsem(spec: AnalysisSpec, layout: _Layout, complete: pd.DataFrame, warnings: list[str]) -> dict:
    fit = stats.sem(spec.model, data=complete)
    warnings.extend(fit.warnings)
    measures = {key: fit.fit.get(key) for key in CBSEM_FIT_KEYS if key in fit.fit}
    if measures.get("df") is not None:
        measures["df"] = int(measures["df"])
        if measures["df"] == 0:
            warnings.append(
                "the model is saturated (df = 0): the chi2 p-value, chi2/df, TLI, AGFI and the RMSEA interval "
                "are undefined and reported as empty"
            )
    if "npar" in measures:
        measures["npar"] = int(measures["npar"])
    columns = ["lhs", "op", "rhs", "est", "se", "z", "pvalue", "std_all"]
    estimates = _records(fit.estimates[columns])
    r2 = {
        v: float(fit.r2[v])
        for v in fit.r2.index
        if v in layout.constructs or v in {p[0] for p in layout.paths}
    }
    reliability = fit.reliability(complete)
    reliability_out = {}
    for construct, row in reliability.iterrows():
        values = {key: _clean(float(row[key])) for key in ("alpha", "omega", "cr", "ave")}
        reliability_out[str(construct)] = values
        _explain_missing_reliability(str(construct), values, layout, warnings)
    validity: dict[str, Any] = {}
    names = list(layout.constructs)
    if len(names) >= 2:
        corr = _latent_correlations(fit, names)
        if corr is not None:
            table = stats.fornell_larcker(reliability["ave"].fillna(0.0), corr)
            validity.update(_fornell_larcker_out(table, names))
        validity["htmt"] = _htmt(complete, layout, warnings)
    return {
        "converged": bool(fit.converged),
        "fit": measures,
        "estimates": estimates,
        "r2": r2,
        "reliability": reliability_out,
        "validity": validity,
    }


def _latent_correlations(fit: stats.CBSEMResult, names: list[str]) -> pd.DataFrame | None:
    """Model-implied correlations of the latent variables (what Fornell & Larcker compare sqrt(AVE) with)."""
    table = fit.latent_correlations()
    if not set(names).issubset(table.index):
        return None
    return table.loc[names, names]


def _fornell_larcker_out(table: pd.DataFrame, names: list[str]) -> dict[str, Any]:
    values = table[names]
    return {
        "fornell_larcker": _matrix(values),
        "fornell_larcker_valid": {str(k): bool(v) for k, v in table["valid"].items()},
    }


def _htmt(complete: pd.DataFrame, layout: _Layout, warnings: list[str]) -> dict | None:
    blocks = {c: layout.observed_items(c) for c in layout.constructs}
    usable = {c: items for c, items in blocks.items() if len(items) >= 2}
    if len(usable) < 2:
        warnings.append("HTMT needs at least two constructs with two or more items each; it is left out")
        return None
    if len(usable) < len(blocks):
        skipped = ", ".join(sorted(set(blocks) - set(usable)))
        warnings.append(f"HTMT leaves out constructs with fewer than two observed items: {skipped}")
    try:
        return _matrix(stats.htmt(complete, usable))
    except StatsInputError as exc:
        warnings.append(f"HTMT could not be computed: {exc}")
        return None


def _explain_missing_reliability(
    construct: str, values: dict[str, Any], layout: _Layout, warnings: list[str]
) -> None:
    empty = [k for k, v in values.items() if v is None]
    if not empty:
        return
    if len(layout.observed_items(construct)) < 2:
        reason = "it has fewer than two observed items"
    elif len(layout.observed_items(construct)) < len(layout.constructs[construct]):
        reason = "it is measured by other constructs"
    else:
        reason = "it has correlated residuals or a loading that cannot be standardised"
    warnings.append(f"{', '.join(empty)} of {construct!r} undefined: {reason}")


# --------------------------------------------------------------------------------------------- PLS-SEM


def _pls(spec: AnalysisSpec, layout: _Layout, complete: pd.DataFrame, warnings: list[str]) -> dict:
    result = stats.pls_sem(spec.model, data=complete)
    warnings.extend(result.warnings)
    # One process for the sizes a report uses; workers pay off only for thousands of resamples.
    boot = result.bootstrap(spec.n_boot, seed=spec.seed, n_jobs=1 if spec.n_boot <= 2000 else None)
    warnings.extend(boot.warnings)
    estimates = []
    for item, row in result.outer.iterrows():
        b = boot.loadings.loc[item]
        estimates.append(_pls_row(str(row["construct"]), "=~", str(item), float(row["loading"]), b))
    for row in result.paths.itertuples():
        b = boot.paths.loc[f"{row.lhs} ~ {row.rhs}"]
        estimates.append(_pls_row(row.lhs, "~", row.rhs, float(row.est), b))
    reliability_out = {}
    for construct, row in result.reliability.iterrows():
        values = {key: _clean(float(row[key])) for key in ("alpha", "rho_a", "cr", "ave")}
        reliability_out[str(construct)] = values
        _explain_missing_reliability(str(construct), values, layout, warnings)
    f2: dict[str, dict[str, Any]] = {}
    for row in result.paths.itertuples():
        f2.setdefault(row.lhs, {})[row.rhs] = _clean(float(row.f2))
    quality: dict[str, Any] = {
        "r2": {k: float(v) for k, v in result.r2.items()},
        "r2_adj": {k: float(v) for k, v in result.r2_adj.items()},
        "f2": f2,
        "q2": None,
        "omission_distance": None,
    }
    n = len(complete)
    distance = next(d for d in range(7, n + 2) if n % d)
    try:
        quality["q2"] = {k: float(v) for k, v in result.q2(distance).items()}
        quality["omission_distance"] = distance
    except StatsInputError as exc:
        warnings.append(f"Q2 (blindfolding) could not be computed: {exc}")
    validity: dict[str, Any] = {}
    names = list(layout.constructs)
    if len(names) >= 2:
        validity.update(_fornell_larcker_out(result.fornell_larcker(), names))
        validity["htmt"] = _htmt(complete, layout, warnings)
    return {
        "converged": bool(result.converged),
        "fit": {},
        "quality": quality,
        "estimates": estimates,
        "r2": {k: float(v) for k, v in result.r2.items()},
        "reliability": reliability_out,
        "validity": validity,
    }


def _pls_row(lhs: str, op: str, rhs: str, est: float, boot: pd.Series) -> dict[str, Any]:
    return _clean(
        {
            "lhs": lhs,
            "op": op,
            "rhs": rhs,
            "est": est,
            "se": float(boot["se"]),
            "z": float(boot["t"]),
            "pvalue": float(boot["pvalue"]),
            "std_all": est,
            "ci_low": float(boot["ci_low"]),
            "ci_high": float(boot["ci_high"]),
        }
    )


# --------------------------------------------------------------------------------------------- survey tables


def _survey_tables(
    layout: _Layout, complete: pd.DataFrame, scale: tuple[float, float], midpoint: float, warnings: list[str]
) -> dict:
    items = layout.observed
    blocks = {c: layout.observed_items(c) for c in layout.constructs if layout.observed_items(c)}
    scores = stats.construct_scores(complete, blocks) if blocks else pd.DataFrame(index=complete.index)
    columns = ["n", "mean", "sd", "variance", "min", "max", "range", "median", "skew", "kurtosis"]
    item_desc = stats.describe(complete, items)[columns]
    item_rows = []
    for item, row in item_desc.iterrows():
        item_rows.append({"item": str(item), "construct": layout.construct_of(str(item))} | _desc_row(row))
    construct_rows = []
    if blocks:
        construct_desc = stats.describe(scores, list(blocks))[columns]
        for construct, row in construct_desc.iterrows():
            construct_rows.append(
                {"construct": str(construct), "items": blocks[str(construct)]} | _desc_row(row)
            )

    normality = {"items": _normality(complete, items, "item", warnings), "constructs": []}
    if blocks:
        normality["constructs"] = _normality(scores, list(blocks), "construct", warnings)

    friedman = None
    if len(blocks) >= 3:
        try:
            res = stats.friedman(scores, list(blocks))
            friedman = {
                "chi2": res.chi2,
                "df": int(res.df),
                "pvalue": res.pvalue,
                "kendall_w": res.kendall_w,
                "n": int(res.n),
                "ranking": _records(res.ranking[["mean_rank", "mean", "rank"]], "construct"),
            }
        except StatsInputError as exc:
            warnings.append(f"the Friedman ranking could not be computed: {exc}")

    t_rows = []
    for construct in blocks:
        try:
            t = stats.one_sample_t(scores, [construct], mu=midpoint).iloc[0]
        except StatsInputError as exc:
            warnings.append(f"no one-sample t-test for {construct!r}: {exc}")
            continue
        t_rows.append(
            {"construct": construct, "n": int(t["n"]), "mean": float(t["mean"]), "sd": float(t["sd"])}
            | {k: float(t[k]) for k in ("t", "df", "pvalue", "mean_diff", "ci_low", "ci_high", "cohen_d")}
            | {"mu": midpoint}
        )

    return {
        "descriptives": {"items": _clean(item_rows), "constructs": _clean(construct_rows)},
        "normality": normality,
        "friedman": _clean(friedman),
        "one_sample_t": _clean(t_rows),
        "distributions": _distributions(complete, layout, scale),
    }


def _desc_row(row: pd.Series) -> dict[str, Any]:
    out = {k: float(row[k]) for k in row.index}
    out["n"] = int(out["n"])
    return out


def _normality(frame: pd.DataFrame, columns: list[str], key: str, warnings: list[str]) -> list[dict]:
    rows = []
    for column in columns:
        try:
            r = stats.normality(frame, [column]).iloc[0]
        except StatsInputError as exc:
            warnings.append(f"no normality test for {column!r}: {exc}")
            continue
        rows.append(
            {
                key: column,
                "n": int(r["n"]),
                "ks_d": float(r["ks_stat"]),
                "ks_pvalue": float(r["ks_pvalue"]),
                "lilliefors_pvalue": float(r["lilliefors_pvalue"]),
                "shapiro_w": float(r["shapiro_w"]),
                "shapiro_pvalue": float(r["shapiro_pvalue"]),
            }
        )
    return _clean(rows)


def _distributions(complete: pd.DataFrame, layout: _Layout, scale: tuple[float, float]) -> list[dict]:
    lo, hi = scale
    whole = all(np.allclose(complete[c], np.round(complete[c])) for c in complete.columns)
    points = hi - lo + 1
    out = []
    for item in layout.observed:
        x = complete[item].to_numpy()
        if whole and float(lo).is_integer() and float(hi).is_integer() and points <= _DISTRIBUTION_MAX_POINTS:
            labels = [f"{v:g}" for v in np.arange(lo, hi + 1)]
            counts = [int(np.sum(np.round(x) == v)) for v in np.arange(lo, hi + 1)]
            binned = False
        else:
            edges = np.linspace(lo, hi, 11)
            counts = np.histogram(np.clip(x, lo, hi), bins=edges)[0].astype(int).tolist()
            labels = [f"{a:.3g}-{b:.3g}" for a, b in zip(edges[:-1], edges[1:], strict=True)]
            binned = True
        out.append(
            {
                "item": item,
                "construct": layout.construct_of(item),
                "labels": labels,
                "counts": counts,
                "binned": binned,
                "n": len(x),
            }
        )
    return out


# --------------------------------------------------------------------------------------------- CX scores


def _complete_column(data: pd.DataFrame, columns: list[str], what: str, warnings: list[str]) -> pd.DataFrame:
    frame = _numeric(data, columns)
    kept = frame.dropna()
    if len(kept) < len(frame):
        warnings.append(f"{what}: {len(frame) - len(kept)} rows without an answer were left out")
    if kept.empty:
        raise StatsInputError(f"{what}: column {columns[0]!r} has no answers", column=columns[0])
    return kept


def _cx(spec: AnalysisSpec, data: pd.DataFrame, scale: tuple[float, float], warnings: list[str]) -> dict:
    out: dict[str, Any] = {}
    if spec.nps:
        frame = _complete_column(data, [spec.nps], "NPS", warnings)
        res = stats.nps(frame, spec.nps)
        out["nps"] = _clean({"column": spec.nps} | dict(res.__dict__))
    if spec.csat:
        frame = _complete_column(data, [spec.csat], "CSAT", warnings)
        top = float(frame[spec.csat].max())
        # The rating scale is the survey's own when the answers fit in it, otherwise 1..highest answer.
        scale_max = int(scale[1]) if scale[0] >= 1 and top <= scale[1] else int(math.ceil(top))
        res = stats.csat(frame, spec.csat, scale_max=max(scale_max, 2))
        out["csat"] = _clean({"column": spec.csat, "scale_max": max(scale_max, 2)} | dict(res.__dict__))
    if spec.servqual:
        dimensions: dict[str, list[tuple[str, str]]] = {}
        for name, sides in spec.servqual.items():
            expectation, perception = list(sides.get("expectation", [])), list(sides.get("perception", []))
            if not expectation or len(expectation) != len(perception):
                raise StatsInputError(
                    f"SERVQUAL dimension {name!r} needs as many expectation as perception columns "
                    f"({len(expectation)} and {len(perception)})",
                    column=name,
                )
            dimensions[name] = list(zip(expectation, perception, strict=True))
        columns = list(dict.fromkeys(c for pairs in dimensions.values() for pair in pairs for c in pair))
        frame = _complete_column(data, columns, "SERVQUAL", warnings)
        res = stats.servqual(frame, dimensions)
        out["servqual"] = _clean(
            {
                "items": _records(res.items, "item"),
                "dimensions": _records(res.dimensions, "dimension"),
                "score": res.score,
                "weighted_score": res.weighted_score,
                "n": len(frame),
            }
        )
        if res.items["t"].isna().any():
            warnings.append("SERVQUAL: an item whose gap is the same for every respondent has no t-test")
    return out
