"""Input checks shared by every function of :mod:`patron.stats`.

Every check raises :class:`StatsInputError` (a :class:`ValueError`) that names the offending column, so a
user sees *which* item is wrong instead of a NaN further down.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


class StatsInputError(ValueError):
    """Bad input to a statistics function (missing column, non-numeric cell, constant item, ...).

    Attributes
    ----------
    column : str or None
        The column the problem was found in, when there is one.
    """

    def __init__(self, message: str, *, column: str | None = None) -> None:
        super().__init__(message)
        self.column = column


class ModelSpecificationError(StatsInputError):
    """A model (lavaan syntax or PLS blocks) that cannot be parsed, estimated or identified."""


class ConvergenceError(RuntimeError):
    """An iterative estimator did not converge and no usable solution exists."""


class StatsWarning(UserWarning):
    """A result was computed but needs care (e.g. non-convergence, Heywood case); also kept in ``warnings``."""


def as_frame(data: pd.DataFrame, name: str = "data") -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        raise StatsInputError(f"{name} must be a pandas DataFrame, got {type(data).__name__}")
    return data


def numeric_columns(
    data: pd.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    min_rows: int = 2,
    allow_missing: bool = False,
    allow_constant: bool = False,
) -> pd.DataFrame:
    """Return ``data[columns]`` as float64, or raise a :class:`StatsInputError` naming the bad column.

    Checks: the columns exist, every cell is numeric (booleans and strings are refused), no missing
    values (unless ``allow_missing``), at least ``min_rows`` rows and a non-zero variance per column
    (unless ``allow_constant``).
    """
    data = as_frame(data)
    if columns is None:
        columns = list(data.columns)
    columns = list(columns)
    if not columns:
        raise StatsInputError("no columns given")
    if len(set(columns)) != len(columns):
        dupes = sorted({c for c in columns if columns.count(c) > 1})
        raise StatsInputError(f"columns given more than once: {dupes}", column=str(dupes[0]))
    missing_columns = [c for c in columns if c not in data.columns]
    if missing_columns:
        raise StatsInputError(
            f"column {missing_columns[0]!r} is not in the data", column=str(missing_columns[0])
        )
    dtypes = data.dtypes[columns] if data.columns.is_unique else None
    if (
        not allow_missing
        and dtypes is not None
        and all(pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t) for t in dtypes)
    ):
        # Fast path for a purely numeric block: one conversion, vectorised checks.
        values = data[columns].to_numpy(dtype="float64")
        if np.all(np.isfinite(values)) and len(values) >= min_rows:
            spread = np.ptp(values, axis=0) if len(values) else np.zeros(len(columns))
            if allow_constant or np.all(spread > 0):
                return pd.DataFrame(values, index=data.index, columns=columns)
    out = {}
    for column in columns:
        if column not in data.columns:
            raise StatsInputError(f"column {column!r} is not in the data", column=str(column))
        series = data[column]
        if pd.api.types.is_bool_dtype(series.dtype):
            raise StatsInputError(f"column {column!r} is boolean, expected numbers", column=str(column))
        if not pd.api.types.is_numeric_dtype(series.dtype):
            converted = pd.to_numeric(series, errors="coerce")
            bad = series[converted.isna() & series.notna()]
            if len(bad):
                raise StatsInputError(
                    f"column {column!r} has non-numeric cells, e.g. {bad.iloc[0]!r} in row {bad.index[0]!r}",
                    column=str(column),
                )
            series = converted
        values = series.astype("float64")
        if not np.all(np.isfinite(values.dropna().to_numpy())):
            raise StatsInputError(f"column {column!r} has infinite values", column=str(column))
        if not allow_missing and values.isna().any():
            n_missing = int(values.isna().sum())
            raise StatsInputError(
                f"column {column!r} has {n_missing} missing value(s); drop or impute them first",
                column=str(column),
            )
        out[column] = values
    frame = pd.DataFrame(out, index=data.index)
    n_rows = int(frame.dropna().shape[0]) if allow_missing else len(frame)
    if n_rows < min_rows:
        raise StatsInputError(f"need at least {min_rows} complete rows, got {n_rows}")
    if not allow_constant:
        for column in columns:
            col = frame[column].dropna()
            if len(col) and float(col.max() - col.min()) == 0.0:
                raise StatsInputError(
                    f"column {column!r} is constant (every answer is {col.iloc[0]:g}); it carries no variance",
                    column=str(column),
                )
    return frame


def check_probability(value: float, name: str, *, open_interval: bool = True) -> float:
    value = float(value)
    ok = 0.0 < value < 1.0 if open_interval else 0.0 <= value <= 1.0
    if not ok:
        bounds = "(0, 1)" if open_interval else "[0, 1]"
        raise StatsInputError(f"{name} must lie in {bounds}, got {value}")
    return value


def single_thread_blas():
    """Context manager limiting BLAS to one thread, if ``threadpoolctl`` is installed (it comes with
    scikit-learn).

    The matrices of a survey model are small (tens of rows); multi-threaded BLAS only adds
    synchronisation there, and on a busy machine it can make a fit ten times slower.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def json_ready(value):
    """Convert numpy/pandas scalars and containers to plain Python, NaN and infinities to ``None``."""
    import math

    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
