"""Discriminant validity: Fornell-Larcker criterion and the heterotrait-monotrait ratio (HTMT)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from patron.stats._validation import StatsInputError, numeric_columns

__all__ = ["fornell_larcker", "htmt"]


def htmt(
    data: pd.DataFrame, constructs: Mapping[str, Sequence[str]], *, method: str = "htmt"
) -> pd.DataFrame:
    """Heterotrait-monotrait ratio of correlations (Henseler, Ringle & Sarstedt 2015).

    ``HTMT_ij`` = mean correlation between the items of i and of j, over the geometric mean of the average
    within-construct item correlations of i and of j. Values below 0.85 (or 0.90) support discriminant
    validity. ``method="htmt2"`` uses geometric instead of arithmetic means (Roemer, Schuberth & Henseler
    2021), which needs all item correlations to be positive.

    Parameters
    ----------
    data : pandas.DataFrame
    constructs : mapping of str to sequence of str
        Construct -> item columns; each construct needs at least two items.
    method : {"htmt", "htmt2"}

    Returns
    -------
    pandas.DataFrame
        Symmetric matrix with NaN on the diagonal.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> f, g = rng.normal(size=(2, 300))
    >>> df = pd.DataFrame({"a1": f + rng.normal(size=300), "a2": f + rng.normal(size=300),
    ...                    "b1": g + rng.normal(size=300), "b2": g + rng.normal(size=300)})
    >>> bool(htmt(df, {"a": ["a1", "a2"], "b": ["b1", "b2"]}).loc["a", "b"] < 0.3)
    True
    """
    if method not in ("htmt", "htmt2"):
        raise StatsInputError(f"method must be 'htmt' or 'htmt2', got {method!r}")
    names = list(constructs)
    if len(names) < 2:
        raise StatsInputError("HTMT needs at least two constructs")
    items = [c for name in names for c in constructs[name]]
    frame = numeric_columns(data, items, min_rows=3)
    corr = frame.corr().to_numpy()
    if method == "htmt2" and np.any(corr <= 0):
        raise StatsInputError("HTMT2 needs every item correlation to be positive; use method='htmt'")

    def average(values: np.ndarray) -> float:
        return float(np.exp(np.mean(np.log(values)))) if method == "htmt2" else float(np.mean(values))

    pos = {c: i for i, c in enumerate(frame.columns)}
    mono = {}
    for name in names:
        idx = [pos[c] for c in constructs[name]]
        if len(idx) < 2:
            raise StatsInputError(f"construct {name!r} needs at least two items for HTMT", column=name)
        block = corr[np.ix_(idx, idx)]
        mono[name] = average(block[np.triu_indices(len(idx), 1)])
        if mono[name] <= 0:
            raise StatsInputError(
                f"the items of {name!r} have a non-positive mean correlation; reverse-code items first",
                column=name,
            )
    out = pd.DataFrame(np.nan, index=names, columns=names)
    for a_pos, a in enumerate(names):
        for b in names[a_pos + 1 :]:
            ia = [pos[c] for c in constructs[a]]
            ib = [pos[c] for c in constructs[b]]
            hetero = average(corr[np.ix_(ia, ib)].ravel())
            value = hetero / np.sqrt(mono[a] * mono[b])
            out.loc[a, b] = out.loc[b, a] = value
    return out


def fornell_larcker(ave: Mapping[str, float] | pd.Series, construct_corr: pd.DataFrame) -> pd.DataFrame:
    """Fornell-Larcker table: sqrt(AVE) on the diagonal, construct correlations below it.

    Discriminant validity holds when each diagonal value exceeds every correlation in its row and column.

    Parameters
    ----------
    ave : mapping of str to float
        AVE per construct.
    construct_corr : pandas.DataFrame
        Correlations between the constructs (latent correlations of a CFA, or PLS score correlations).

    Returns
    -------
    pandas.DataFrame
        Lower-triangular table (NaN above the diagonal) with an extra boolean column ``valid``.

    Examples
    --------
    >>> import pandas as pd
    >>> corr = pd.DataFrame([[1, 0.4], [0.4, 1]], index=["a", "b"], columns=["a", "b"])
    >>> fornell_larcker({"a": 0.6, "b": 0.5}, corr)["valid"].tolist()
    [True, True]
    """
    ave = pd.Series(ave, dtype=float)
    names = list(construct_corr.index)
    missing = [n for n in names if n not in ave.index]
    if missing:
        raise StatsInputError(f"no AVE for construct {missing[0]!r}", column=missing[0])
    table = construct_corr.loc[names, names].astype(float).copy()
    root = np.sqrt(ave[names].to_numpy())
    valid = []
    for i in range(len(names)):
        others = np.abs(np.delete(table.iloc[i].to_numpy(), i))
        valid.append(bool(np.all(root[i] > others)))
    values = table.to_numpy(copy=True)
    values[np.triu_indices(len(names), 1)] = np.nan
    np.fill_diagonal(values, root)
    out = pd.DataFrame(values, index=names, columns=names)
    out["valid"] = valid
    return out
