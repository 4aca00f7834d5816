"""Errors raised by :mod:`patron.analytics`.

Every error is a :class:`ValueError` subclass, so callers that only know the standard library
can still catch it, and carries a short machine-readable ``code`` and, where one column is at
fault, the ``column`` it names. The library imports nothing from the rest of Patron; the
application maps these errors to its own error model at its edge.
"""

from __future__ import annotations


class AnalyticsError(ValueError):
    """Base class of every input error raised by the analytics library.

    Parameters
    ----------
    detail : str
        A sentence a user can act on.
    column : str, optional
        The input column the problem was found in.
    """

    code = "invalid_input"

    def __init__(self, detail: str, *, column: str | None = None) -> None:
        self.detail = detail
        self.column = column
        super().__init__(detail if column is None else f"{detail} (column {column!r})")


class EmptyDataError(AnalyticsError):
    """The input table has no rows (or none left after filtering)."""

    code = "empty_data"


class MissingColumnError(AnalyticsError):
    """A column the function needs is not in the table."""

    code = "missing_column"


class InvalidValueError(AnalyticsError):
    """A column holds values the method cannot use (NaN, negative, unparsable, non-numeric)."""

    code = "invalid_value"


class InsufficientDataError(AnalyticsError):
    """There is data, but too little of it for the method (one customer, one alternative...)."""

    code = "insufficient_data"


class InvalidParameterError(AnalyticsError):
    """A method parameter is out of its range."""

    code = "invalid_parameter"


class ConvergenceError(AnalyticsError):
    """A maximum-likelihood fit did not reach a usable optimum."""

    code = "no_convergence"
