"""The report's charts, drawn with matplotlib (object API: no pyplot state, no GUI)."""

from __future__ import annotations

import io
import json
import math
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import matplotlib as mpl
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from footfall.report._content import NO_DATA_COLOR, RESILIENCE_CMAP
from footfall.report._outline import regions_geojson

__all__ = [
    "monthly_chart",
    "resilience_chart",
    "interval_chart",
    "color_legend",
    "points_map",
    "to_svg",
    "save_png",
]

_SVG_METADATA = ("Date", "Type", "Creator", "Format")
_ACCENT = "#1f6f8b"
_MUTED = "#b9c2c9"


def monthly_chart(levels: pd.DataFrame, baseline: pd.Series, crisis_start: str | None) -> Figure:
    """Small multiples: each town's monthly passages against its pre-crisis level.

    Parameters
    ----------
    levels : pandas.DataFrame
        Mean monthly passages per calendar month (``Period`` index) and town (columns).
    baseline : pandas.Series
        The same figure over the baseline window, per town.
    crisis_start : str, optional
        First day of the crisis window, marked on every panel.
    """
    n = max(len(levels.columns), 1)
    ncols = min(n, 5)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(2.6 * ncols, 2.1 * nrows + 0.5), layout="constrained")
    axes = fig.subplots(nrows, ncols, sharex=True, squeeze=False).ravel()
    months = levels.index.to_timestamp() if len(levels) else pd.DatetimeIndex([])
    for ax, town in zip(axes, levels.columns, strict=False):
        ax.plot(months, levels[town].to_numpy(float), color=_ACCENT, marker="o", ms=2.5, lw=1.5)
        ax.axhline(baseline.get(town, np.nan), color="#555555", ls="--", lw=1)
        if crisis_start:
            ax.axvline(pd.Timestamp(crisis_start), color="#c0392b", ls=":", lw=1)
        ax.set_title(town, fontsize=9, loc="left")
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_formatter(FuncFormatter(_short))
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_locator(mdates.MonthLocator(bymonth=(1, 7)))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%b\n%Y"))
        ax.grid(axis="y", color="#e6e6e6", lw=0.6)
        ax.spines[["top", "right"]].set_visible(False)
    for ax in axes[len(levels.columns) :]:
        ax.set_visible(False)
    fig.suptitle(
        "Mean monthly passages (normalised, solid) against the pre-crisis level (dashed);"
        " dotted: start of the crisis",
        fontsize=9,
    )
    return fig


def resilience_chart(
    distribution: pd.DataFrame, mean_top: float, top: int, n_mean: int | None = None
) -> Figure:
    """Histogram of the resilience of eligible towns, the ranked ones stacked on top.

    Parameters
    ----------
    distribution : pandas.DataFrame
        ``resilience`` (ratio) and ``ranked`` (bool) per eligible town.
    mean_top : float
        Mean resilience of the ranked towns, drawn as a line.
    top : int
        Length of the palmarès (for the labels).
    n_mean : int, optional
        How many ranked towns the mean is over (default `top`).
    """
    n_mean = top if n_mean is None else n_mean
    over = f"the top {top}" if n_mean == top else f"{n_mean} of the top {top}"
    fig = Figure(figsize=(7, 3.2), layout="constrained")
    ax = fig.subplots()
    values = distribution["resilience"].to_numpy(float)
    if len(values):
        lo, hi = np.floor(values.min() * 20) / 20, np.ceil(values.max() * 20) / 20
        bins = np.arange(lo, max(hi, lo + 0.05) + 1e-9, 0.025)
        ranked = distribution["ranked"].to_numpy(bool)
        ax.hist(
            [values[~ranked], values[ranked]],
            bins=bins,
            stacked=True,
            color=[_MUTED, _ACCENT],
            label=["other eligible towns", f"top {top}"],
        )
    if not np.isnan(mean_top):
        ax.axvline(mean_top, color="#c0392b", lw=1.5, label=f"mean of {over}: {mean_top:.0%}")
    ax.axvline(1.0, color="#555555", ls="--", lw=1, label="pre-crisis level")
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel("resilience: mean daily passages in the crisis / before it")
    ax.set_ylabel("towns")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def interval_chart(intervals: pd.DataFrame) -> Figure:
    """Monthly passages and resilience of the chart towns with their 95 % error bars.

    Parameters
    ----------
    intervals : pandas.DataFrame
        One row per town (index: its label, in rank order): ``monthly_passages``,
        ``resilience`` and their ``*_low``/``*_high`` bounds; a town without bounds
        (``--no-intervals``) is drawn as a dot alone, a suppressed one (NaN) not at all.
    """
    n = max(len(intervals), 1)
    fig = Figure(figsize=(8, 0.32 * n + 1.3), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    y = np.arange(len(intervals))
    panels = (
        ("monthly_passages", "monthly passages (normalised)", FuncFormatter(_short)),
        ("resilience", "resilience", PercentFormatter(1.0, decimals=0)),
    )
    for ax, (name, label, formatter) in zip(axes, panels, strict=True):
        if len(intervals):
            value = intervals[name].to_numpy(float)
            low = intervals[f"{name}_low"].to_numpy(float)
            high = intervals[f"{name}_high"].to_numpy(float)
            err = np.vstack([value - low, high - value])
            err = np.where(np.isfinite(err), np.maximum(err, 0.0), 0.0)
            has = np.isfinite(low) & np.isfinite(high)
            xerr = err if has.any() else None
            ax.errorbar(value, y, xerr=xerr, fmt="o", ms=4, color=_ACCENT, ecolor=_ACCENT,
                        elinewidth=1.2, capsize=2.5)  # fmt: skip
        if name == "resilience":
            ax.axvline(1.0, color="#555555", ls="--", lw=1)
        ax.set_xlabel(label)
        ax.xaxis.set_major_formatter(formatter)
        ax.grid(axis="x", color="#e6e6e6", lw=0.6)
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(labelsize=8)
    axes[0].set_yticks(y, list(intervals.index))
    axes[0].invert_yaxis()
    fig.suptitle("Each figure with its 95 % interval (bootstrap of device groups)", fontsize=9)
    return fig


def color_legend(color_range: tuple[float, float]) -> Figure:
    """Draw the map's colour scale of resilience as a horizontal colour bar."""
    fig = Figure(figsize=(4.5, 0.75), layout="constrained")
    ax = fig.subplots()
    fig.colorbar(
        ScalarMappable(Normalize(*color_range), RESILIENCE_CMAP),
        cax=ax,
        orientation="horizontal",
        extend="both",
        format=PercentFormatter(1.0, decimals=0),
        label="resilience (grey: excluded, or no published index)",
    )
    return fig


def points_map(
    zones: gpd.GeoDataFrame, fit: gpd.GeoDataFrame, color_range: tuple[float, float]
) -> Figure:
    """Draw a static map for Markdown: a dot per zone of `fit`, coloured as on the HTML map.

    Parameters
    ----------
    zones : geopandas.GeoDataFrame
        Zones with a ``color`` column (EPSG:4326); those of `fit` are drawn.
    fit : geopandas.GeoDataFrame
        The zones to draw (e.g. the eligible ones), a subset of `zones`.
    color_range : tuple of float
        The colour scale, for the colour bar.
    """
    shown = (zones if fit.empty else fit).to_crs("EPSG:2154")  # Lambert-93: France undistorted
    points = shown.geometry.representative_point()
    fig = Figure(figsize=(6, 6), layout="constrained")
    ax = fig.subplots()
    regions = gpd.GeoDataFrame.from_features(json.loads(regions_geojson()), crs="EPSG:4326")
    regions.to_crs("EPSG:2154").plot(ax=ax, facecolor="#f4f1ea", edgecolor="#9aa3ab", lw=0.6)
    ax.set_xlim(*_padded(points.x))
    ax.set_ylim(*_padded(points.y))
    grey = shown["color"].to_numpy() == NO_DATA_COLOR
    ax.scatter(points.x[grey], points.y[grey], s=14, c=NO_DATA_COLOR, edgecolors="none")
    ax.scatter(
        points.x[~grey],
        points.y[~grey],
        s=22,
        c=shown["color"][~grey],
        edgecolors="#333333",
        linewidths=0.3,
    )
    ax.set_aspect("equal")
    ax.set_axis_off()
    fig.colorbar(
        ScalarMappable(Normalize(*color_range), RESILIENCE_CMAP),
        ax=ax,
        orientation="horizontal",
        shrink=0.6,
        extend="both",
        format=PercentFormatter(1.0, decimals=0),
        label="resilience (grey: excluded, or no published index)",
    )
    return fig


@contextmanager
def _reproducible():
    # Fixed ids and no date: the same report renders to the same bytes.
    with mpl.rc_context({"svg.hashsalt": "footfall", "svg.fonttype": "none"}):
        yield


def to_svg(fig: Figure) -> str:
    """Render the figure as an inline ``<svg>`` element (no XML prolog)."""
    buf = io.StringIO()
    with _reproducible():
        # No <metadata> block (Dublin Core URIs, a date): inline, it is noise.
        fig.savefig(buf, format="svg", metadata=dict.fromkeys(_SVG_METADATA))
    text = buf.getvalue()
    return text[text.index("<svg") :]


def save_png(fig: Figure, path: Path) -> None:
    """Write the figure as a PNG (150 dpi)."""
    with _reproducible():
        fig.savefig(path, format="png", dpi=150, metadata={"Software": None})


def _padded(values: pd.Series, share: float = 0.08) -> tuple[float, float]:
    """Axis limits around `values`, with a margin."""
    low, high = float(values.min()), float(values.max())
    pad = max(high - low, 1.0) * share
    return low - pad, high + pad


def _short(value: float, _pos: object = None) -> str:
    """1 234 567 -> 1.2M: axis labels of passages."""
    for size, unit in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{unit}"
    return f"{value:.0f}"
