"""The ranking rule, and the 95 % intervals of the palmarès with its ties (issue 16).

Re-exported by :mod:`footfall.ranking` (``INTERVAL_COLUMNS``, ``rank_eligible``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from footfall.indicators import figure_intervals, replicate_figures

__all__ = ["INTERVAL_COLUMNS", "rank_eligible"]


#: The 95 % intervals of the palmarès (issue 16), after the point columns.
INTERVAL_COLUMNS = [
    "monthly_passages_low",
    "monthly_passages_high",
    "resilience_low",
    "resilience_high",
    "rank_low",
    "rank_high",
]


def rank_eligible(scores: pd.DataFrame) -> pd.DataFrame:
    """Rank every eligible zone of `scores`: monthly passages, then resilience, then zone_id.

    Returns the eligible rows (``zone_id`` as a column) in rank order, with ``rank`` 1, 2,
    3... first; missing figures rank last, and no rank is shared.
    """
    ranked = (
        scores[scores["eligible"]]
        .reset_index()
        .sort_values(
            ["monthly_passages", "resilience", "zone_id"],
            ascending=[False, False, True],
            na_position="last",
            kind="stable",
        )
    )
    ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
    return ranked


_TIE_COLUMNS = ["rank", "zone_id", "name", "next_rank", "next_zone_id", "next_name"]


def _intervals(
    ranked: pd.DataFrame,
    hourly: pd.DataFrame,
    daily: pd.DataFrame,
    intervals: bool,
    **figure_options: Any,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add the 95 % interval columns to the ranked towns; list the neighbours in a tie.

    Each bootstrap replicate of the device groups gives every town its figures; the
    ranked towns are ranked again in each replicate (by monthly passages), and the
    2.5 and 97.5 percentiles of a town's ranks are its rank interval (widened to hold
    its rank).
    """
    from footfall.tables import read_replicates

    ranked = ranked.copy()
    for name in INTERVAL_COLUMNS:
        ranked[name] = pd.array(
            [pd.NA] * len(ranked), dtype="Int64" if "rank" in name else "Float64"
        )
    replicates = read_replicates(hourly) if intervals else None
    if replicates is None or ranked.empty:
        return ranked, pd.DataFrame(columns=_TIE_COLUMNS)
    figures = replicate_figures(replicates, daily, **figure_options)
    bounds = figure_intervals(figures, daily.columns).reindex(ranked["zone_id"])
    for name in bounds.columns:
        ranked[name] = bounds[name].to_numpy()
    cols = pd.Index(daily.columns).get_indexer(ranked["zone_id"])
    monthly = figures["monthly_passages"][:, cols]  # (replicates, ranked towns)
    monthly = np.where(np.isnan(monthly), -np.inf, monthly)
    order = np.argsort(-monthly, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, len(cols) + 1)[None, :], axis=1)
    low = np.quantile(ranks, 0.025, axis=0, method="lower")
    high = np.quantile(ranks, 0.975, axis=0, method="higher")
    point = ranked["rank"].to_numpy()
    ranked["rank_low"] = pd.array(np.minimum(low, point), dtype="Int64")
    ranked["rank_high"] = pd.array(np.maximum(high, point), dtype="Int64")
    a, b = ranked.iloc[:-1], ranked.iloc[1:]
    overlap = a["rank_high"].to_numpy() >= b["rank_low"].to_numpy()
    a, b = a[overlap], b[overlap]
    ties = pd.DataFrame(
        {
            "rank": a["rank"].to_numpy(),
            "zone_id": a["zone_id"].to_numpy(),
            "name": a["name"].to_numpy(),
            "next_rank": b["rank"].to_numpy(),
            "next_zone_id": b["zone_id"].to_numpy(),
            "next_name": b["name"].to_numpy(),
        }
    )
    return ranked, ties


def _ordinal(n: Any) -> str:
    n = int(n)
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
