"""Input checks shared by the analytics modules (internal).

Each check raises an :class:`~patron.analytics.errors.AnalyticsError` subclass naming the column
at fault; none uses ``assert``, so they hold under ``python -O`` too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from patron.analytics.errors import (
    EmptyDataError,
    InsufficientDataError,
    InvalidParameterError,
    InvalidValueError,
    MissingColumnError,
)


def as_frame(data: object, *, what: str = "table") -> pd.DataFrame:
    """Return ``data`` as a DataFrame (a 2-D array gets columns ``c1``, ``c2``...); reject empty input."""
    if isinstance(data, pd.DataFrame):
        frame = data
    else:
        array = np.asarray(data)
        if array.ndim != 2:
            raise InvalidValueError(f"the {what} must be two-dimensional, got {array.ndim} dimension(s)")
        frame = pd.DataFrame(array, columns=[f"c{j + 1}" for j in range(array.shape[1])])
    if frame.shape[0] == 0:
        raise EmptyDataError(f"the {what} has no rows")
    if frame.shape[1] == 0:
        raise EmptyDataError(f"the {what} has no columns")
    return frame


def require_columns(frame: pd.DataFrame, columns: Iterable[str], *, what: str = "table") -> None:
    """Raise :class:`MissingColumnError` for the first of ``columns`` missing from ``frame``."""
    for column in columns:
        if column not in frame.columns:
            raise MissingColumnError(
                f"the {what} has no column {column!r}; it has {', '.join(map(str, frame.columns))}",
                column=str(column),
            )


def numeric_column(
    frame: pd.DataFrame,
    column: str,
    *,
    allow_nan: bool = False,
    nonnegative: bool = False,
) -> np.ndarray:
    """Return one column as a float array after checking it is numeric, finite and (optionally) >= 0."""
    series = frame[column]
    if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
        converted = pd.to_numeric(series, errors="coerce")
        bad = converted.isna() & series.notna()
        if bad.any():
            example = series[bad].iloc[0]
            raise InvalidValueError(f"non-numeric value {example!r}", column=str(column))
        series = converted
    values = series.to_numpy(dtype=float, na_value=np.nan)
    nan = np.isnan(values)
    if nan.all():
        raise InvalidValueError("every value is missing (NaN)", column=str(column))
    if not allow_nan and nan.any():
        raise InvalidValueError(f"{int(nan.sum())} missing value(s) (NaN)", column=str(column))
    if np.isinf(values).any():
        raise InvalidValueError("infinite value(s)", column=str(column))
    if nonnegative and (values[~nan] < 0).any():
        raise InvalidValueError(f"negative value {values[~nan][values[~nan] < 0][0]:g}", column=str(column))
    return values


def numeric_matrix(
    frame: pd.DataFrame,
    *,
    allow_nan: bool = False,
    nonnegative: bool = False,
) -> np.ndarray:
    """Return every column of ``frame`` as a float matrix, checking each column by name."""
    columns = [
        numeric_column(frame, column, allow_nan=allow_nan, nonnegative=nonnegative)
        for column in frame.columns
    ]
    return np.column_stack(columns)


def require_rows(n_rows: int, minimum: int, *, what: str) -> None:
    """Raise :class:`InsufficientDataError` when fewer than ``minimum`` rows are given."""
    if n_rows < minimum:
        raise InsufficientDataError(f"{what}: need at least {minimum}, got {n_rows}")


def weight_vector(weights: object, criteria: Sequence[str]) -> np.ndarray:
    """Criterion weights as an array aligned to ``criteria``, non-negative and normalised to sum 1.

    ``weights`` may be a mapping or Series keyed by criterion, or a sequence in column order.
    """
    if isinstance(weights, pd.Series | dict):
        mapping = dict(weights)
        missing = [c for c in criteria if c not in mapping]
        if missing:
            raise MissingColumnError(f"no weight given for criterion {missing[0]!r}", column=str(missing[0]))
        values = np.array([float(mapping[c]) for c in criteria])
    else:
        values = np.asarray(weights, dtype=float).ravel()
        if values.size != len(criteria):
            raise InvalidParameterError(f"{values.size} weight(s) for {len(criteria)} criteria")
    if not np.all(np.isfinite(values)):
        raise InvalidParameterError("weights must be finite numbers")
    if (values < 0).any():
        bad = criteria[int(np.argmax(values < 0))]
        raise InvalidParameterError("weights must be non-negative", column=str(bad))
    total = values.sum()
    if total <= 0:
        raise InvalidParameterError("weights sum to zero")
    return values / total


def parse_dates(series: pd.Series, column: str, date_format: str | None = None) -> pd.Series:
    """Parse a date column; missing or unparsable values raise :class:`InvalidValueError` naming it."""
    if series.isna().any():
        raise InvalidValueError(f"{int(series.isna().sum())} missing date(s)", column=column)
    if pd.api.types.is_datetime64_any_dtype(series):
        return series
    text = series.astype(str)
    parsed = pd.to_datetime(text, errors="coerce", format=date_format)
    bad = parsed.isna()
    if bad.any() and date_format is None:
        # the format inferred from the first value did not fit every row: parse row by row
        parsed = pd.to_datetime(text, errors="coerce", format="mixed")
        bad = parsed.isna()
    if bad.any():
        example = series[bad].iloc[0]
        raise InvalidValueError(f"unparsable date {example!r}", column=column)
    return parsed
