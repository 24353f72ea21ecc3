"""Counting: panel normalisation, daily and monthly passages, and the resilience index."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Literal

import numpy as np
import pandas as pd

from footfall.errors import InputError

__all__ = [
    "BASELINE",
    "CRISIS",
    "PERIOD",
    "FRANCE_POPULATION",
    "Window",
    "normalise",
    "daily_passages",
    "monthly_passages",
    "monthly_series",
    "resilience",
    "window_coverage",
    "REPLICATES",
    "replicate_weights",
    "widening",
    "replicate_figures",
    "figure_intervals",
]

#: A window of local days ``(first, last)``, both ends inclusive; ``None`` is an open end
#: (the first or last day with data).
Window = tuple[str | date | pd.Timestamp | None, str | date | pd.Timestamp | None]

#: Pre-crisis reference: 1 January - 15 March 2020 (published method).
BASELINE: Window = ("2020-01-01", "2020-03-15")
#: Crisis: from 16 March 2020 (first lockdown) to the end of the data.
CRISIS: Window = ("2020-03-16", None)
#: Ranking period: March 2020 - January 2021 (published method).
PERIOD: Window = ("2020-03-01", "2021-01-31")
#: Population of France, 1 January 2021 (INSEE estimate), for ``expand="population"``.
FRANCE_POPULATION = 67_407_241

_DAYS_PER_MONTH = 365.25 / 12


def normalise(
    hourly: pd.DataFrame,
    panel: pd.DataFrame | None = None,
    *,
    reference: float | None = None,
    baseline: Window = BASELINE,
    expand: float | Literal["population"] | None = None,
) -> pd.DataFrame:
    """Add a ``normalised`` column: passages scaled to a constant panel size.

    Parameters
    ----------
    hourly : pandas.DataFrame
        Hourly table (``zone_id``, ``hour`` tz-aware local, ``passages``, ``pings``).
    panel : pandas.DataFrame, optional
        Panel table (``day``, ``active_devices``); default ``hourly.attrs["panel"]``.
    reference : float, optional
        Panel size the passages are scaled to; default the mean ``active_devices`` over
        the days of `baseline`.
    baseline : Window
        Window of the default reference level (both ends inclusive).
    expand : float or "population", optional
        Multiply by this factor to estimate absolute passages; ``"population"`` uses
        ``FRANCE_POPULATION / reference``. This is an estimate: it assumes the panel is
        a uniform sample of the population.

    Returns
    -------
    pandas.DataFrame
        A copy of `hourly` with ``normalised`` (float64) =
        ``passages * reference / active_devices(day) * expand``; NaN for hours of
        days the panel lacks (or where it counts no active device).

    Raises
    ------
    InputError
        When there is no panel, or it has no day in `baseline` and no `reference`.
    """
    _check_hourly(hourly)
    factor = _day_factor(_panel_of(hourly, panel, required=True), reference, baseline, expand)
    out = hourly.copy()
    out["normalised"] = out["passages"].to_numpy(float) * factor.reindex(
        _local_days(out["hour"])
    ).to_numpy(float)
    return out


def daily_passages(
    hourly: pd.DataFrame,
    panel: pd.DataFrame | None = None,
    *,
    zone_ids: list[str] | pd.Index | None = None,
    normalise: bool = True,
    reference: float | None = None,
    baseline: Window = BASELINE,
    expand: float | Literal["population"] | None = None,
) -> pd.DataFrame:
    """Passages per zone and local day.

    Parameters
    ----------
    hourly : pandas.DataFrame
        Hourly table (see :func:`normalise`).
    panel : pandas.DataFrame, optional
        Panel table; default ``hourly.attrs["panel"]``. It defines the data coverage.
    zone_ids : sequence of str, optional
        Zones to report (columns, in this order); default the zones of `hourly`. A zone
        with no row at all gets zeros on covered days; other zones are left out.
    normalise : bool
        Scale by the panel (see :func:`normalise`); ``False`` gives raw passages.
    reference, baseline, expand
        As in :func:`normalise` (ignored when `normalise` is false).

    Returns
    -------
    pandas.DataFrame
        Index ``day`` (midnight timestamps, every day from the first to the last covered
        day), one float column per zone.

    Raises
    ------
    InputError
        When normalising without a panel (pass ``normalise=False`` to use raw passages).

    Notes
    -----
    Days are local days of the ``hour`` column's timezone. A covered day (one the panel
    has, with at least one active device) without a row for a zone counts as 0
    passages; a day outside the coverage is NaN for every zone, never 0. Without any
    panel (only with ``normalise=False``), the coverage is every day from the first to
    the last day of `hourly`.
    """
    _check_hourly(hourly)
    panel = _panel_of(hourly, panel, required=normalise)
    days = _local_days(hourly["hour"])
    raw = hourly.groupby([hourly["zone_id"].to_numpy(), days])["passages"].sum()
    table = raw.unstack(0, fill_value=0).astype(float)
    if zone_ids is not None:
        table = table.reindex(columns=pd.Index(zone_ids), fill_value=0.0)
    table.columns = pd.Index(table.columns.astype(str), name="zone_id")
    if panel is not None:
        active = _panel_series(panel)
        covered = active.index[active > 0]
    else:
        covered = pd.date_range(days.min(), days.max(), freq="D") if len(days) else days
    if len(covered) == 0:
        raise InputError("no covered day: the panel and the hourly table are empty")
    every_day = pd.date_range(covered.min(), covered.max(), freq="D", name="day")
    table = table.reindex(covered, fill_value=0.0).reindex(every_day)
    if normalise:
        factor = _day_factor(panel, reference, baseline, expand)
        table = table.mul(factor.reindex(every_day), axis=0)
    return table


def window_coverage(
    daily: pd.DataFrame, window: Window
) -> tuple[pd.Timestamp, pd.Timestamp, float]:
    """Resolve a window on a daily table and measure how much of it has data.

    Parameters
    ----------
    daily : pandas.DataFrame
        Output of :func:`daily_passages`.
    window : Window
        ``(first, last)`` local days, both inclusive; ``None`` ends are the first or
        last covered day.

    Returns
    -------
    first, last : pandas.Timestamp
        The resolved window.
    coverage : float
        Share of the window's days that have data (0 when the window is empty).
    """
    covered = daily.index[daily.notna().any(axis=1)] if daily.shape[1] else daily.index
    first, last = (_day(window[0]), _day(window[1]))
    if len(covered):
        first = covered.min() if first is None else first
        last = covered.max() if last is None else last
    if first is None or last is None or last < first:
        return first, last, 0.0
    n_days = (last - first).days + 1
    n_covered = int(((covered >= first) & (covered <= last)).sum())
    return first, last, n_covered / n_days


def monthly_passages(
    daily: pd.DataFrame, *, period: Window = PERIOD, min_coverage: float = 0.8
) -> pd.Series:
    """Mean monthly passages per zone over a period: the ranking figure.

    Parameters
    ----------
    daily : pandas.DataFrame
        Output of :func:`daily_passages`.
    period : Window
        ``(first, last)`` local days, both inclusive (default March 2020 - January 2021).
    min_coverage : float
        Smallest share of the period's days that must have data.

    Returns
    -------
    pandas.Series
        ``mean daily passages over the covered days of the period * 365.25 / 12``,
        indexed by ``zone_id``, named ``monthly_passages``.

    Raises
    ------
    InputError
        When the data covers less than `min_coverage` of the period; the message gives
        the period and the coverage.
    """
    first, last, coverage = window_coverage(daily, period)
    if coverage < min_coverage or coverage == 0:
        raise InputError(
            f"ranking period {_fmt(first)}..{_fmt(last)}: data on {coverage:.0%} of its "
            f"days (min_coverage {min_coverage:.0%}); choose a period inside the data "
            f"(--period {_fmt(daily.index.min())}:{_fmt(daily.index.max())})"
        )
    mean = daily.loc[first:last].mean()
    return (mean * _DAYS_PER_MONTH).rename("monthly_passages")


def monthly_series(daily: pd.DataFrame) -> pd.DataFrame:
    """Passages per zone and calendar month.

    Parameters
    ----------
    daily : pandas.DataFrame
        Output of :func:`daily_passages`.

    Returns
    -------
    pandas.DataFrame
        Index ``month`` (``Period[M]``), one column per zone: the mean daily passages
        over the month's covered days times the number of days in the month (the
        month's total when fully covered, an estimate of it otherwise); NaN for a month
        without data.
    """
    months = daily.index.to_period("M")
    mean = daily.groupby(months).mean()
    mean.index.name = "month"
    return mean.mul(mean.index.days_in_month.to_numpy(), axis=0)


def resilience(
    daily: pd.DataFrame,
    *,
    baseline: Window = BASELINE,
    crisis: Window = CRISIS,
    min_coverage: float = 0.8,
) -> pd.DataFrame:
    """Resilience index per zone: mean daily passages in the crisis over the baseline.

    Parameters
    ----------
    daily : pandas.DataFrame
        Output of :func:`daily_passages`.
    baseline, crisis : Window
        ``(first, last)`` local days, both inclusive; ``None`` ends are the first or last
        covered day (defaults: 1 January - 15 March 2020, and 16 March 2020 - end).
    min_coverage : float
        Smallest share of a window's days that must have data.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``zone_id``: ``baseline`` and ``crisis`` (mean daily passages),
        ``resilience`` (their ratio, e.g. 0.81; NaN when it cannot be computed) and
        ``reason`` (why there is no index; empty string when there is one).
    """
    out = pd.DataFrame(index=daily.columns)
    reasons = pd.Series("", index=daily.columns, dtype=object)
    for name, window in (("baseline", baseline), ("crisis", crisis)):
        first, last, coverage = window_coverage(daily, window)
        if coverage < min_coverage or coverage == 0:
            out[name] = np.nan
            reason = (
                f"{name} window {_fmt(first)}..{_fmt(last)} has data on {coverage:.0%} "
                f"of its days (min_coverage {min_coverage:.0%})"
            )
            reasons = reasons.where(reasons == "", reasons + "; ") + reason
        else:
            out[name] = daily.loc[first:last].mean()
    zero = (out["baseline"] == 0) & (reasons == "")
    reasons[zero] = "no passage in the baseline window"
    out["resilience"] = (out["crisis"] / out["baseline"]).where(reasons == "")
    out["reason"] = reasons.astype(str)
    return out


# ---------------------------------------------------------------------------------------
# 95 % intervals (issue 16): the device groups of the count, resampled

#: Bootstrap replicates of the intervals.
REPLICATES = 400


def widening(groups: int) -> float:
    """Factor that turns the spread of a bootstrap over `groups` groups into a 95 % interval.

    A bootstrap that draws ``G`` groups with replacement estimates the variance with
    the divisor ``G`` instead of ``G - 1`` (factor ``sqrt(G / (G - 1))`` on the spread),
    and a variance estimated from ``G`` groups has ``G - 1`` degrees of freedom, so the
    95 % point is Student's ``t(G - 1)`` rather than the normal 1.96 (factor
    ``t / 1.96``). For ``G = 32``: 1.016 x 1.041 = 1.057.
    """
    if groups < 2:
        return 1.0
    z, nu = 1.959963984540054, groups - 1.0
    # Cornish-Fisher expansion of Student's quantile (error < 1e-4 for nu >= 5)
    t = (
        z
        + (z**3 + z) / (4 * nu)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * nu**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * nu**3)
    )
    return float(np.sqrt(groups / nu) * t / z)


def replicate_weights(groups: int, replicates: int = REPLICATES, seed: int = 0) -> np.ndarray:
    """Bootstrap weights over device groups: ``(replicates, groups)`` multinomial counts.

    Each replicate draws `groups` groups with replacement (a fixed seed: the same
    tables give the same intervals); a group's weight is how often it was drawn.
    """
    rng = np.random.default_rng(seed)
    return rng.multinomial(groups, np.full(groups, 1.0 / groups), size=replicates).astype(float)


def replicate_figures(
    replicates: Any,
    daily: pd.DataFrame,
    *,
    weights: np.ndarray | None = None,
    widen: bool = True,
    normalise: bool = True,
    reference: float | None = None,
    baseline: Window = BASELINE,
    crisis: Window = CRISIS,
    period: Window = PERIOD,
    expand: float | Literal["population"] | None = None,
) -> dict[str, np.ndarray]:
    """Monthly passages and resilience of every zone in each bootstrap replicate.

    Parameters
    ----------
    replicates : footfall.tables.Replicates
        The count's replicate tables (:func:`footfall.read_replicates`).
    daily : pandas.DataFrame
        The point daily table (:func:`daily_passages`): its zones, days and covered
        days are the replicates'.
    weights : array (replicates, groups), optional
        Default :func:`replicate_weights`.
    widen : bool
        Stretch each replicate's deviation from the point figure by :func:`widening`
        (default), so that the percentiles are calibrated 95 % intervals with ``G``
        groups; ``False`` gives the raw bootstrap.
    normalise, reference, baseline, crisis, period, expand
        As for the point figures.

    Returns
    -------
    dict
        ``monthly_passages``, ``baseline``, ``crisis``, ``resilience``: float arrays
        ``(replicates, zones)`` (zones in the order of ``daily.columns``).

    Notes
    -----
    Replicate ``b`` gives group ``g`` the weight ``w[b, g]``: its passages are
    ``sum_g w[b, g] P[zone, day, g]``, its panel ``sum_g w[b, g] A[day, g]``, and the
    figures follow as for the point (normalisation by the replicate's own panel,
    means over the covered days of each window). Means are linear, so each window is
    one matrix product over (day, group). The point figures (all weights 1) are
    computed alongside; with `widen`, replicate ``b``'s figure ``f_b`` becomes
    ``f + c (f_b - f)`` (``c`` = :func:`widening`, floored at 0), which scales the
    bootstrap spread, and the ranks drawn from it, without moving the point.
    """
    g = replicates.groups
    w = replicate_weights(g) if weights is None else np.asarray(weights, float)
    w = np.vstack([np.ones((1, g)), w])  # row 0: the point figures
    days = daily.index
    zones = pd.Index(daily.columns)
    covered = daily.notna().any(axis=1).to_numpy() if daily.shape[1] else np.zeros(len(days), bool)
    v = replicates.visits
    zi = zones.get_indexer(v["zone_id"])
    di = days.get_indexer(pd.DatetimeIndex(v["day"]))
    ok = (zi >= 0) & (di >= 0)
    cube = np.zeros((len(zones), len(days), g))
    np.add.at(cube, (zi[ok], di[ok], v["group"].to_numpy()[ok]), v["passages"].to_numpy()[ok])
    p = replicates.panel
    pi = days.get_indexer(pd.DatetimeIndex(p["day"]))
    active = np.zeros((len(days), g))
    okp = pi >= 0
    np.add.at(active, (pi[okp], p["group"].to_numpy()[okp]), p["active_devices"].to_numpy()[okp])
    factor = np.ones((len(w), len(days)))
    if normalise:
        act = w @ active.T  # (replicates, days)
        with np.errstate(divide="ignore", invalid="ignore"):
            if reference is None:
                b0, b1 = _day(baseline[0]), _day(baseline[1])
                in_base = (days >= (b0 or days.min())) & (days <= (b1 or days.max()))
                in_base &= active.sum(axis=1) > 0
                ref = act[:, in_base].mean(axis=1) if in_base.any() else np.ones(len(w))
            else:
                ref = np.full(len(w), float(reference))
            factor = np.where(act > 0, ref[:, None] / act, 0.0)
            if expand == "population":
                factor *= FRANCE_POPULATION / ref[:, None]
            elif expand is not None:
                factor *= float(expand)
    out: dict[str, np.ndarray] = {}
    for name, window in (("period", period), ("baseline", baseline), ("crisis", crisis)):
        first, last, _ = window_coverage(daily, window)
        if first is None or last is None:
            out[name] = np.full((len(w), len(zones)), np.nan)
            continue
        m = covered & (days >= first) & (days <= last)
        n = int(m.sum())
        if n == 0:
            out[name] = np.full((len(w), len(zones)), np.nan)
            continue
        flat = cube[:, m, :].reshape(len(zones), n * g)
        mix = (factor[:, m][:, :, None] * w[:, None, :]).reshape(len(w), n * g)
        out[name] = (mix @ flat.T) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        res = out["crisis"] / out["baseline"]
    figures = {
        "monthly_passages": out["period"] * _DAYS_PER_MONTH,
        "baseline": out["baseline"],
        "crisis": out["crisis"],
        "resilience": np.where(np.isfinite(res), res, np.nan),
    }
    c = widening(g) if widen else 1.0
    for name, values in figures.items():
        point, reps = values[:1], values[1:]
        figures[name] = np.maximum(point + c * (reps - point), 0.0) if c != 1.0 else reps
    return figures


def figure_intervals(figures: dict[str, np.ndarray], zone_ids: Sequence[str]) -> pd.DataFrame:
    """95 % percentile intervals of :func:`replicate_figures`, per zone.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``zone_id``: ``monthly_passages_low/high``, ``resilience_low/high``.
    """
    out = pd.DataFrame(index=pd.Index(list(zone_ids), name="zone_id"))
    for name in ("monthly_passages", "resilience"):
        values = figures[name]
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                low, high = np.nanpercentile(values, [2.5, 97.5], axis=0)
        out[f"{name}_low"] = low
        out[f"{name}_high"] = high
    return out


def _check_hourly(hourly: pd.DataFrame) -> None:
    missing = [c for c in ("zone_id", "hour", "passages") if c not in hourly.columns]
    if missing:
        raise InputError(f"hourly table lacks column(s) {missing}")
    if not isinstance(hourly["hour"].dtype, pd.DatetimeTZDtype):
        raise InputError(
            f"hourly table: column 'hour' must be tz-aware local time, not {hourly['hour'].dtype}"
        )


def _panel_of(
    hourly: pd.DataFrame, panel: pd.DataFrame | None, *, required: bool
) -> pd.DataFrame | None:
    if panel is None and "panel" in hourly.attrs:
        from footfall.tables import read_panel

        panel = read_panel(hourly)
    if panel is None and required:
        raise InputError(
            "no panel table to normalise by: read the hourly table with ff.read_hourly "
            "(it reads <name>.panel.parquet beside it), pass panel=, or opt out with "
            "normalise=False (--no-normalise)"
        )
    return panel


def _panel_series(panel: pd.DataFrame) -> pd.Series:
    missing = [c for c in ("day", "active_devices") if c not in panel.columns]
    if missing:
        raise InputError(f"panel table lacks column(s) {missing}")
    try:
        days = pd.DatetimeIndex(pd.to_datetime(panel["day"]), name="day").normalize()
    except (TypeError, ValueError) as exc:
        raise InputError(f"panel table: column 'day' does not hold dates ({exc})") from exc
    if days.has_duplicates:
        raise InputError(f"panel table: day {_fmt(days[days.duplicated()][0])} appears twice")
    return pd.Series(panel["active_devices"].to_numpy(float), index=days).sort_index()


def _day_factor(
    panel: pd.DataFrame,
    reference: float | None,
    baseline: Window,
    expand: float | Literal["population"] | None,
) -> pd.Series:
    """Per covered day: reference / active devices (times `expand`)."""
    active = _panel_series(panel)
    active = active[active > 0]
    if reference is None:
        first, last = _day(baseline[0]), _day(baseline[1])
        in_window = active.loc[first:last]
        if in_window.empty:
            raise InputError(
                f"panel has no day in the baseline window {_fmt(first)}..{_fmt(last)}: "
                "pass reference= (--reference) or a baseline inside the data"
            )
        reference = float(in_window.mean())
    if expand == "population":
        expand = FRANCE_POPULATION / reference
    return reference / active * (1.0 if expand is None else float(expand))


def _local_days(hours: pd.Series) -> pd.DatetimeIndex:
    # Wall-clock time in the column's own timezone, so days are local days.
    return pd.DatetimeIndex(hours.dt.tz_localize(None).dt.normalize(), name="day")


def _day(value: str | date | pd.Timestamp | None) -> pd.Timestamp | None:
    if value is None:
        return None
    day = pd.Timestamp(value)
    # Windows are in local days: an aware timestamp keeps its wall-clock date.
    return (day.tz_localize(None) if day.tz is not None else day).normalize()


def _fmt(day: pd.Timestamp | None) -> str:
    return "?" if day is None else day.strftime("%Y-%m-%d")
