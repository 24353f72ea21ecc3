"""Statistics of ``footfall drivers``: Spearman's rho and percentile bootstrap intervals.

Vectorised over the bootstrap replicates (one row each): ranks by counting, no sort per row.
"""

from __future__ import annotations

import numpy as np

__all__ = ["spearman"]


def _ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank) along the last axis of a 2-D array."""
    b, n = values.shape
    order = np.argsort(values, axis=1, kind="stable")
    ordered = np.take_along_axis(values, order, axis=1)
    new = np.ones((b, n), dtype=bool)
    new[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    group = np.cumsum(new, axis=1) - 1 + (np.arange(b) * n)[:, None]
    position = np.broadcast_to(np.arange(1, n + 1, dtype=float), (b, n)).ravel()
    flat = group.ravel()
    mean = np.bincount(flat, weights=position, minlength=b * n) / np.maximum(
        np.bincount(flat, minlength=b * n), 1
    )
    ranks = np.empty((b, n))
    np.put_along_axis(ranks, order, mean[flat].reshape(b, n), axis=1)
    return ranks


def _sample_ranks(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Average ranks of ``values[idx]`` within each row, by counting: no sort per row.

    Ranking is monotone, so a sample ranks as the dense codes of its values do; the
    average rank of code ``c`` in a row is (values below it) + (its count + 1) / 2.
    """
    codes = np.unique(values, return_inverse=True)[1].ravel()
    m = int(codes.max()) + 1
    b, n = idx.shape
    sample = codes[idx]
    counts = np.bincount((sample + (np.arange(b) * m)[:, None]).ravel(), minlength=b * m)
    counts = counts.reshape(b, m).astype(float)
    mean_rank = np.cumsum(counts, axis=1) - counts + (counts + 1) / 2
    return np.take_along_axis(mean_rank, sample, axis=1)


def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x = x - x.mean(axis=1, keepdims=True)
    y = y - y.mean(axis=1, keepdims=True)
    den = np.sqrt((x * x).sum(axis=1) * (y * y).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (x * y).sum(axis=1) / den, np.nan)


def spearman(x: np.ndarray, y: np.ndarray, *, n_boot: int = 2000, seed: int = 0, level=0.95):
    """Spearman's rho of `x` and `y` and its percentile bootstrap interval (resampling pairs).

    Returns
    -------
    (rho, low, high) : tuple of float
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    rho = float(_pearson_rows(_ranks(x[None]), _ranks(y[None]))[0])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(n_boot, len(x)))
    boot = _pearson_rows(_sample_ranks(x, idx), _sample_ranks(y, idx))
    low, high = _interval(boot, level)
    return rho, low, high


def _interval(boot: np.ndarray, level: float) -> tuple[float, float]:
    boot = boot[np.isfinite(boot)]
    if len(boot) == 0:
        return np.nan, np.nan
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(boot, [tail, 100 - tail])
    return float(low), float(high)


def _median_diff(top: np.ndarray, rest: np.ndarray, n_boot: int, seed: int, level: float):
    rng = np.random.default_rng(seed + 1)
    a = top[rng.integers(0, len(top), size=(n_boot, len(top)))]
    b = rest[rng.integers(0, len(rest), size=(n_boot, len(rest)))]
    return _interval(np.median(a, axis=1) - np.median(b, axis=1), level)
