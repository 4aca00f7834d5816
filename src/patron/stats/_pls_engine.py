"""Estimation machinery of :mod:`patron.stats.pls`: the model blocks, the PLS algorithm on a correlation
matrix (single and batched over bootstrap resamples) and the bootstrap worker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from patron.stats._validation import ModelSpecificationError, single_thread_blas
from patron.stats.syntax import parse_model


@dataclass(frozen=True)
class _PLSModel:
    constructs: tuple[str, ...]
    blocks: tuple[tuple[str, ...], ...]
    items: tuple[str, ...]
    item_block: np.ndarray  # construct index of each item
    paths: tuple[tuple[int, int], ...]  # (from, to)

    @classmethod
    def from_syntax(cls, model: str) -> _PLSModel:
        statements = parse_model(model)
        blocks: dict[str, list[str]] = {}
        for s in statements:
            if s.op == "=~":
                blocks.setdefault(s.lhs, []).append(s.rhs)
                if s.fixed is not None or s.free_marker:
                    raise ModelSpecificationError(f"line {s.line}: PLS blocks take no modifiers ({s.rhs})")
            elif s.op == "~~":
                raise ModelSpecificationError(f"line {s.line}: PLS-SEM has no (co)variance statements (~~)")
        constructs = list(blocks)
        items = [i for c in constructs for i in blocks[c]]
        if len(set(items)) != len(items):
            dup = next(i for i in items if items.count(i) > 1)
            raise ModelSpecificationError(f"item {dup!r} is in more than one block", column=dup)
        clash = [c for c in constructs if c in items]
        if clash:
            raise ModelSpecificationError(f"{clash[0]!r} is both a construct and an item", column=clash[0])
        paths = []
        for s in statements:
            if s.op == "~":
                for name in (s.lhs, s.rhs):
                    if name not in blocks:
                        raise ModelSpecificationError(
                            f"line {s.line}: {name!r} is not a construct (define it with =~)", column=name
                        )
                if s.fixed is not None:
                    raise ModelSpecificationError(f"line {s.line}: PLS paths cannot be fixed")
                paths.append((constructs.index(s.rhs), constructs.index(s.lhs)))
        if not paths:
            raise ModelSpecificationError("a PLS path model needs at least one structural path (~)")
        linked = {i for p in paths for i in p}
        lonely = [c for k, c in enumerate(constructs) if k not in linked]
        if lonely:
            raise ModelSpecificationError(
                f"construct {lonely[0]!r} is in no structural path", column=lonely[0]
            )
        item_block = np.array([k for k, c in enumerate(constructs) for _ in blocks[c]])
        return cls(
            tuple(constructs),
            tuple(tuple(blocks[c]) for c in constructs),
            tuple(items),
            item_block,
            tuple(paths),
        )


def _regress(corr: np.ndarray, y: int, xs: Sequence[int]) -> tuple[np.ndarray, float]:
    """Standardised OLS coefficients of y on xs from a correlation matrix, and R²."""
    xs = list(xs)
    rxx = corr[np.ix_(xs, xs)]
    rxy = corr[xs, y]
    beta = np.linalg.solve(rxx, rxy)
    return beta, float(beta @ rxy)


def _estimate(
    model: _PLSModel, R: np.ndarray, max_iter: int, tol: float, W0: np.ndarray | None = None
) -> dict[str, Any]:
    """PLS on an item correlation matrix R. Returns weights, loadings, construct correlations, paths, R².

    ``W0`` (outer weights of a previous solution, e.g. the full sample's for a bootstrap resample) only
    changes the starting point: the fixed point is the same, so fewer iterations are needed.
    """
    k = len(model.constructs)
    p = len(model.items)
    rows = np.arange(p)
    blocks = model.item_block
    predecessors = [[a for a, b in model.paths if b == j] for j in range(k)]
    successors = [[b for a, b in model.paths if a == j] for j in range(k)]
    if W0 is None:
        W = np.zeros((p, k))
        W[rows, blocks] = 1.0
    else:
        W = W0.copy()
    RW = R @ W
    scale = 1.0 / np.sqrt(np.einsum("ij,ij->j", W, RW))
    W *= scale
    RW *= scale
    converged = False
    iterations = 0
    while iterations < max_iter:
        iterations += 1
        C = W.T @ RW  # construct correlations
        E = np.zeros((k, k))
        for j in range(k):
            pre = predecessors[j]
            if pre:
                E[pre, j] = np.linalg.solve(C[np.ix_(pre, pre)], C[pre, j])
            for s in successors[j]:
                E[s, j] = C[s, j]
        # Inner proxy Z_j = sum_i E[i, j] Y_i; Mode A weight of item h of block j: cor(x_h, Z_j).
        proxy = RW @ E
        W_new = np.zeros_like(W)
        W_new[rows, blocks] = proxy[rows, blocks]
        RW = R @ W_new
        scale = 1.0 / np.sqrt(np.einsum("ij,ij->j", W_new, RW))
        W_new *= scale
        RW *= scale
        change = np.max(np.abs(W_new - W))
        W = W_new
        if change < tol:
            converged = True
            break
    C = W.T @ RW
    loadings = RW[rows, blocks]
    B = np.zeros((k, k))
    r2 = np.full(k, np.nan)
    for j in range(k):
        if predecessors[j]:
            beta, r2[j] = _regress(C, j, predecessors[j])
            B[predecessors[j], j] = beta
    return {
        "weights": W[rows, blocks],
        "W": W,
        "loadings": loadings,
        "C": C,
        "B": B,
        "r2": r2,
        "converged": converged,
        "iterations": iterations,
    }


def _standardise(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(axis=0)) / x.std(axis=0, ddof=1)


def _boot_chunk(args: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    with single_thread_blas():
        return _boot_chunk_inner(*args)


def _estimate_batch(
    model: _PLSModel, R: np.ndarray, max_iter: int, tol: float, W0: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_estimate` for a stack of correlation matrices ``R`` (B, p, p) at once, from weights ``W0``.

    Iterates until every matrix of the stack has converged; returns paths (B, n_paths), loadings and
    weights (B, p), and a boolean ``converged`` (B,).
    """
    k = len(model.constructs)
    p = len(model.items)
    rows = np.arange(p)
    blocks = model.item_block
    predecessors = [[a for a, b in model.paths if b == j] for j in range(k)]
    successors = [[b for a, b in model.paths if a == j] for j in range(k)]

    def normalise(W: np.ndarray, RW: np.ndarray) -> None:
        scale = 1.0 / np.sqrt(np.einsum("bij,bij->bj", W, RW))
        W *= scale[:, None, :]
        RW *= scale[:, None, :]

    W = np.broadcast_to(W0, (R.shape[0], p, k)).copy()
    RW = R @ W
    normalise(W, RW)
    converged = np.zeros(R.shape[0], dtype=bool)
    for _ in range(max_iter):
        C = np.swapaxes(W, 1, 2) @ RW
        E = np.zeros_like(C)
        for j in range(k):
            pre = predecessors[j]
            if pre:
                E[:, pre, j] = np.linalg.solve(C[:, pre][:, :, pre], C[:, pre, j][..., None])[..., 0]
            for s in successors[j]:
                E[:, s, j] = C[:, s, j]
        proxy = RW @ E
        W_new = np.zeros_like(W)
        W_new[:, rows, blocks] = proxy[:, rows, blocks]
        RW = R @ W_new
        normalise(W_new, RW)
        converged = np.max(np.abs(W_new - W), axis=(1, 2)) < tol
        W = W_new
        if converged.all():
            break
    C = np.swapaxes(W, 1, 2) @ RW
    paths = np.empty((R.shape[0], len(model.paths)))
    for j in range(k):
        pre = predecessors[j]
        if pre:
            beta = np.linalg.solve(C[:, pre][:, :, pre], C[:, pre, j][..., None])[..., 0]
            for col, (a, b) in enumerate(model.paths):
                if b == j:
                    paths[:, col] = beta[:, pre.index(a)]
    return paths, RW[:, rows, blocks], W[:, rows, blocks], converged


def _boot_chunk_inner(model, x, seeds, max_iter, tol, W0) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    n = x.shape[0]
    idx = np.stack([np.random.default_rng(seed).integers(0, n, n) for seed in seeds])
    samples = x[idx]  # (B, n, p)
    centred = samples - samples.mean(axis=1, keepdims=True)
    cov = np.swapaxes(centred, 1, 2) @ centred
    sd = np.sqrt(np.einsum("bii->bi", cov))
    ok = np.all(sd > 0, axis=1)
    paths = np.full((len(seeds), len(model.paths)), np.nan)
    loads = np.full((len(seeds), len(model.items)), np.nan)
    weights = np.full((len(seeds), len(model.items)), np.nan)
    if ok.any():
        R = cov[ok] / (sd[ok][:, :, None] * sd[ok][:, None, :])
        try:
            paths[ok], loads[ok], weights[ok], _ = _estimate_batch(model, R, max_iter, tol, W0)
        except np.linalg.LinAlgError:
            # A singular resample somewhere in the stack: fall back to one at a time.
            for b in np.flatnonzero(ok):
                Rb = cov[b] / np.outer(sd[b], sd[b])
                try:
                    pb, lb, wb, _ = _estimate_batch(model, Rb[None], max_iter, tol, W0)
                except np.linalg.LinAlgError:
                    ok[b] = False
                    continue
                paths[b], loads[b], weights[b] = pb[0], lb[0], wb[0]
    return paths, loads, weights, int((~ok).sum())
