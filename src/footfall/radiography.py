"""What drives dynamism: the palmarès beside town indicators (``footfall drivers``).

The module is not named ``drivers``: importing ``footfall.drivers`` would then shadow the
function ``ff.drivers`` with the module (as ``footfall.simulate`` did before it became
``footfall.simulation``).

The 2021 palmarès came with a "radiographie" of its top 30 (summer rebound, people of
the métropoles spending lockdowns in medium towns, commercial vacancy, population
growth...), without numbers anyone could check. :func:`drivers` puts every eligible
ranked town's figures beside indicators — built in, and the user's own CSV keyed by
``insee`` — and measures, for each indicator and target, Spearman's rho with a
bootstrap interval, and the top N against the rest.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from footfall._spearman import _median_diff, spearman
from footfall._town_indicators import (  # noqa: F401 - BUILTIN: footfall.radiography.BUILTIN
    BUILTIN,
    METHOD_WINDOWS,
    read_indicators,
    town_indicators,
)
from footfall.errors import InputError
from footfall.manifest import atomic_path, beside, file_record, make_manifest, write_manifest
from footfall.zones import ZoneSet, read_zones

__all__ = [
    "COLUMNS",
    "METHOD_WINDOWS",
    "TARGETS",
    "Drivers",
    "drivers",
    "read_indicators",
    "report_section",
    "town_indicators",
]

#: Columns of the drivers table (DESIGN §3: the first six are the contract).
COLUMNS = [
    "indicator",
    "target",
    "n",
    "rho",
    "rho_low",
    "rho_high",
    "kind",
    "top_median",
    "rest_median",
    "diff",
    "diff_low",
    "diff_high",
    "note",
]

#: What the indicators are set against.
TARGETS = ("monthly_passages", "resilience", *METHOD_WINDOWS)

_MIN_TOWNS = 5
_MECHANICAL = "related by construction"


@dataclass(frozen=True, repr=False)
class Drivers:
    """The palmarès beside town indicators.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per indicator and target, columns :data:`COLUMNS`.
    categories : pandas.DataFrame
        Categorical indicators: ``indicator, category, target, n, median, top_n``
        (towns of the category in the top N by that target).
    towns : pandas.DataFrame
        One row per town used (every eligible ranked zone): ``zone_id, name, insee,
        region, rank``, the targets and the indicators.
    indicators : dict
        Indicator name -> ``"numeric"`` or ``"category"``.
    notes : list of str
        What the reader must know: the towns used, skipped figures, bad values.
    top : int
        The N of "top N vs the rest".
    params : dict
        Parameters of the run (bootstrap size, seed, level).
    """

    table: pd.DataFrame
    categories: pd.DataFrame
    towns: pd.DataFrame
    indicators: dict[str, str]
    notes: list[str]
    top: int
    params: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"<Drivers: {len(self.indicators)} indicators x {self.table['target'].nunique()} "
            f"targets over {len(self.towns)} towns>"
        )

    @property
    def headline(self) -> str:
        """The line every output starts with: which towns the figures rest on."""
        n, eligible = len(self.towns), self.params.get("eligible") or len(self.towns)
        towns = (
            f"All {n} eligible ranked towns are used, not only the top {self.top}, so the "
            "correlations are not cut by the selection."
            if eligible <= n
            else f"Only the {n} towns of the palmarès table are used, of about {eligible} "
            "eligible: the correlations are cut by the selection (rank every town to use "
            "them all)."
        )
        return (
            f"{towns} Intervals: "
            f"{self.params['level']:.0%} bootstrap over towns ({self.params['n_boot']} draws, "
            f"seed {self.params['seed']}); top {self.top} by each target vs the rest."
        )

    def strongest(self, target: str, k: int = 4, *, mechanical: bool = True) -> pd.DataFrame:
        """Return the `k` numeric indicators with the largest ``|rho|`` for `target`.

        ``mechanical=False`` leaves out the method figures related to `target` by
        construction (their window lies inside the target's).
        """
        rows = self.table[(self.table["target"] == target) & self.table["rho"].notna()]
        if not mechanical:
            rows = rows[~rows["note"].str.contains(_MECHANICAL, regex=False)]
        return rows.reindex(rows["rho"].abs().sort_values(ascending=False).index).head(k)

    def to_markdown(self) -> str:
        """Render the tables and notes as Markdown (no pictures: see :meth:`to_html`)."""
        parts = [
            "# What drives dynamism",
            f"_{self.headline}_",
            "## Spearman correlations and top vs rest",
            _markdown(_display(self.table)),
        ]
        if len(self.categories):
            parts += ["## Categories: median of each target", _markdown(_display(self.categories))]
        parts += ["## Notes", "\n".join(f"- {n}" for n in self.notes)]
        return "\n\n".join(parts) + "\n"

    def to_html(self, *, page: bool = True, charts: int = 4) -> str:
        """Render as HTML: tables, notes and scatter plots (inline PNG, no network).

        Parameters
        ----------
        page : bool
            A whole page (``True``) or a ``<section>`` to put in a report.
        charts : int
            Scatter plots per target (the strongest indicators), for the passages and
            resilience targets.
        """
        body = [
            '<section id="drivers">',
            "<h2>What drives dynamism</h2>",
            f"<p><em>{html.escape(self.headline)}</em></p>",
            "<h3>Spearman correlations and top vs rest</h3>",
            _html_table(_display(self.table)),
        ]
        if len(self.categories):
            body += ["<h3>Categories: median of each target</h3>"]
            body += [_html_table(_display(self.categories))]
        pictures = [
            (row.indicator, target)
            for target in ("resilience", "monthly_passages")
            for row in self.strongest(target, charts, mechanical=False).itertuples()
        ]
        if pictures:
            body.append("<h3>Scatter plots (strongest indicators)</h3><div>")
            for indicator, target in pictures:
                png = base64.b64encode(scatter_png(self, indicator, target)).decode("ascii")
                alt = html.escape(f"{indicator} against {target}")
                body.append(f'<img alt="{alt}" src="data:image/png;base64,{png}" width="480">')
            body.append("</div>")
        body += ["<h3>Notes</h3><ul>"]
        body += [f"<li>{html.escape(n)}</li>" for n in self.notes]
        body += ["</ul>", "</section>"]
        section = "\n".join(body)
        if not page:
            return section
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            "<title>What drives dynamism</title><style>"
            "body{font-family:sans-serif;max-width:75em;margin:auto;padding:1em}"
            "table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ccc;"
            "padding:2px 6px}td.num{text-align:right}</style></head><body>\n"
            f"{section}\n</body></html>\n"
        )

    def write(
        self, out: str | Path, *, inputs: list[str | Path] = (), zones_hash: str | None = None
    ) -> Path:
        """Write ``.csv`` (categories beside as ``<stem>-categories.csv``), ``.md`` or ``.html``.

        The run manifest goes beside (``<out>.manifest.json``), written last.

        Returns
        -------
        Path
            The output file.
        """
        out = Path(out)
        suffix = out.suffix.lower()
        if suffix not in (".csv", ".md", ".markdown", ".html", ".htm"):
            raise InputError(
                f"--out {out}: write .csv, .md or .html, not {suffix or 'no suffix'!r}"
            )
        outputs = {"drivers": str(out)}
        with atomic_path(out) as tmp:
            if suffix == ".csv":
                _round(self.table).to_csv(tmp, index=False)
            elif suffix == ".html" or suffix == ".htm":
                tmp.write_text(self.to_html(), encoding="utf-8")
            else:
                tmp.write_text(self.to_markdown(), encoding="utf-8")
        if suffix == ".csv" and len(self.categories):
            cats = out.with_name(f"{out.stem}-categories.csv")
            with atomic_path(cats) as tmp:
                _round(self.categories).to_csv(tmp, index=False)
            outputs["categories"] = str(cats)
        manifest = make_manifest(
            "drivers",
            inputs=[file_record(p) for p in inputs],
            parameters={**self.params, "top": self.top, "indicators": self.indicators},
            zones=None if zones_hash is None else {"hash": zones_hash},
            outputs=outputs,
            notes=self.notes,
        )
        write_manifest(beside(out, "manifest", "json"), manifest)
        return out


def drivers(
    palmares: Any,
    zones: ZoneSet | str | Path,
    indicators: pd.DataFrame | str | Path | None = None,
    *,
    hourly: pd.DataFrame | str | Path | None = None,
    top: int | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    builtin: bool = True,
) -> Drivers:
    """Set the palmarès beside town indicators: Spearman's rho and top N vs the rest.

    Parameters
    ----------
    palmares : Palmares, pandas.DataFrame or path
        A :class:`footfall.Palmares` (every eligible zone of its ``scores`` is used,
        and its daily passages give the method figures), or a palmarès table / CSV
        (``.parquet``, ``.gpkg``, ``.geojson`` too) with ``zone_id``,
        ``monthly_passages`` and ``resilience``: its rows are the towns used.
    zones : ZoneSet or path
        The zone set of the palmarès (names, insee, population, region, polygons).
    indicators : pandas.DataFrame or path, optional
        The user's indicators: a CSV (``,``, ``;`` or tab separated) or a table keyed by
        ``insee``; every other column is an indicator, numeric or categorical.
    hourly : pandas.DataFrame or path, optional
        Hourly table (panel beside it) for the method figures when `palmares` is a
        table; a :class:`~footfall.Palmares` carries its own daily passages.
    top : int, optional
        The N of "top N vs the rest": default the palmarès's own length (else 30), or a
        third of the towns when that leaves fewer than half of them in the rest.
    n_boot : int
        Bootstrap draws (resampling towns with replacement).
    seed : int
        Seed of the bootstrap: the same inputs give the same intervals.
    level : float
        Coverage of the intervals (percentile bootstrap).
    builtin : bool
        Add the built-in indicators (see :data:`BUILTIN`).

    Returns
    -------
    Drivers

    Raises
    ------
    InputError
        When the palmarès lacks a needed column, the indicators have no ``insee``
        column, or a file cannot be read.

    Notes
    -----
    "Top N" is taken per target: the N towns with the highest value of that target
    (for ``monthly_passages``, the palmarès itself) against every other town; the
    difference of the indicator's medians gets a stratified bootstrap interval.
    A method figure whose window lies inside a target's window (the summer rebound
    inside the resilience crisis window) is correlated with it by construction: the
    note says so.
    """
    if not 0 < level < 1:
        raise InputError(f"`level` was {level} but must be between 0 and 1")
    if n_boot < 100:
        raise InputError(f"`n_boot` was {n_boot} but must be at least 100")
    zones = zones if isinstance(zones, ZoneSet) else read_zones(zones)
    notes: list[str] = []
    towns, daily, default_top, baseline, eligible = _towns(palmares, zones, hourly, notes)
    if top is None and default_top > len(towns) // 2:
        top = max(1, len(towns) // 3)
        notes.append(
            f"Top {top} vs the rest (a third of the {len(towns)} towns): the palmarès's "
            f"top {default_top} would leave too few towns in the rest."
        )
    top = int(top if top is not None else default_top)
    if top < 1:
        raise InputError(f"`top` was {top} but must be at least 1")
    kinds: dict[str, str] = {}
    if builtin:
        built = town_indicators(towns, zones, daily=daily, baseline=baseline, notes=notes)
        towns = towns.drop(columns=[c for c in built.columns if c in towns]).join(built)
        kinds |= {c: "numeric" for c in built.columns}
        kinds["region"] = "category"
    if indicators is not None:
        user, user_kinds = read_indicators(indicators, towns, notes)
        clash = [c for c in user.columns if c in towns.columns]
        if clash:
            notes.append(f"the indicators file replaces the built-in column(s) {clash}")
            towns = towns.drop(columns=clash)
        towns = towns.join(user)
        kinds |= user_kinds
    targets = [t for t in TARGETS if t in towns.columns and towns[t].notna().any()]
    table, categories = _measure(towns, kinds, targets, top, n_boot, seed, level)
    universe = (
        f"all {len(towns)} eligible ranked towns"
        if eligible <= len(towns)
        else f"only the {len(towns)} towns of the palmarès table (about {eligible} eligible)"
    )
    table["note"] = [universe + (f"; {n}" if n else "") for n in table["note"]]
    return Drivers(
        table=table,
        categories=categories,
        towns=towns.reset_index(),
        indicators=kinds,
        notes=notes,
        top=top,
        params={
            "n_boot": n_boot,
            "seed": seed,
            "level": level,
            "baseline": list(baseline),
            "eligible": eligible,
        },
    )


# -- the towns ---------------------------------------------------------------------------


def _towns(
    palmares: Any, zones: ZoneSet, hourly: Any, notes: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame | None, int, tuple[str, str], int]:
    """Every town used (by zone_id), daily passages, default N, baseline, eligible towns."""
    from footfall.indicators import BASELINE
    from footfall.ranking import Palmares, rank_eligible

    props = pd.DataFrame(zones.gdf.drop(columns="geometry")).set_index("zone_id")
    if isinstance(palmares, Palmares):
        scores = palmares.scores
        ranked = rank_eligible(scores)
        table = ranked.set_index("zone_id")[["rank", "monthly_passages", "resilience"]]
        daily = palmares.daily
        default_top = palmares.params.get("top") or len(table)
        eligible = len(table)
        baseline = tuple(palmares.params.get("baseline") or BASELINE)
        notes.append(
            f"Towns: all {len(table)} eligible zones of the palmarès (its table shows the "
            f"top {len(palmares.table)}); {len(scores) - len(table)} ineligible zones left out."
        )
    else:
        table = _read_palmares(palmares)
        unknown = sorted(set(table.index) - set(props.index))
        if unknown:
            raise InputError(
                f"the palmarès has {len(unknown)} zone(s) not in the zone set "
                f"(first: {unknown[:3]}); give the zones it was ranked on"
            )
        daily = None
        if hourly is not None:
            from footfall.indicators import daily_passages
            from footfall.tables import read_hourly

            frame = hourly if isinstance(hourly, pd.DataFrame) else read_hourly(hourly)
            daily = daily_passages(frame, zone_ids=list(table.index))
        default_top = min(30, len(table))
        baseline = BASELINE
        notes.append(f"Towns: the {len(table)} zones of the palmarès table.")
        eligible = _warn_selection(table, zones, notes)
    for col in ("name", "insee", "region", "population"):
        # The zone set is authoritative for the towns' properties.
        table[col] = props[col].reindex(table.index).to_numpy()
    table["insee"] = table["insee"].astype(str)
    return table, daily, int(default_top), tuple(str(d) for d in baseline), eligible


def _read_palmares(source: Any) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        frame = pd.DataFrame(source).copy()
    else:
        path = Path(source)
        if not path.exists():
            raise InputError(f"palmarès {path}: no such file")
        try:
            if path.suffix.lower() == ".csv":
                frame = pd.read_csv(path, dtype={"insee": str, "zone_id": str})
            elif path.suffix.lower() == ".parquet":
                frame = pd.read_parquet(path)
            else:
                import geopandas as gpd

                frame = pd.DataFrame(gpd.read_file(path))
        except (ValueError, OSError, ImportError) as exc:
            raise InputError(f"palmarès {path} cannot be read ({exc})") from exc
    missing = [c for c in ("zone_id", "monthly_passages", "resilience") if c not in frame]
    if missing:
        raise InputError(
            f"the palmarès lacks column(s) {missing} (it has {list(frame.columns)[:10]}); "
            "give the CSV written by `footfall rank`"
        )
    frame["zone_id"] = frame["zone_id"].astype(str)
    if frame["zone_id"].duplicated().any():
        raise InputError("the palmarès lists a zone twice: give one ranking")
    for col in ("monthly_passages", "resilience"):
        # Suppressed figures ("<10") and blanks are missing values, not errors.
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    if "rank" not in frame:
        frame["rank"] = frame["monthly_passages"].rank(ascending=False, method="first")
    keep = ["zone_id", "rank", "monthly_passages", "resilience"]
    keep += [c for c in ("name", "insee", "region") if c in frame]
    return frame[keep].set_index("zone_id")


def _warn_selection(table: pd.DataFrame, zones: ZoneSet, notes: list[str]) -> int:
    from footfall.ranking import eligibility

    eligible = int(eligibility(zones)["eligible"].sum())
    if eligible > len(table):
        notes.append(
            f"The palmarès lists {len(table)} towns but the zone set has about {eligible} "
            "eligible ones: correlations over the top only are cut by selection. Rank every "
            "town (`footfall rank --top 10000`, or pass the Palmares of ff.palmares(..., "
            "top=None)) to use them all."
        )
    return max(eligible, len(table))


def _measure(
    towns: pd.DataFrame,
    kinds: dict[str, str],
    targets: list[str],
    top: int,
    n_boot: int,
    seed: int,
    level: float,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, cats = [], []
    for target in targets:
        y_all = pd.to_numeric(towns[target], errors="coerce")
        order = y_all.rank(ascending=False, method="first")
        is_top = (order <= top).to_numpy()
        for indicator, kind in kinds.items():
            if indicator == target or indicator not in towns:
                continue
            row: dict[str, Any] = {"indicator": indicator, "target": target, "kind": kind}
            notes = []
            if kind == "category":
                labels = towns[indicator]
                ok = labels.notna().to_numpy() & y_all.notna().to_numpy()
                row["n"] = int(ok.sum())
                groups = pd.DataFrame(
                    {"category": labels[ok].astype(str), "y": y_all[ok], "top": is_top[ok]}
                ).groupby("category")
                for category, g in groups:
                    cats.append(
                        {
                            "indicator": indicator,
                            "category": category,
                            "target": target,
                            "n": len(g),
                            "median": float(g["y"].median()),
                            "top_n": int(g["top"].sum()),
                        }
                    )
                notes.append(f"{groups.ngroups} categories: per-category medians in the table")
                rows.append(row | {"note": "; ".join(notes)})
                continue
            x_all = pd.to_numeric(towns[indicator], errors="coerce").to_numpy(float)
            ok = np.isfinite(x_all) & np.isfinite(y_all.to_numpy(float))
            x, y, t = x_all[ok], y_all.to_numpy(float)[ok], is_top[ok]
            row["n"] = int(ok.sum())
            if row["n"] < _MIN_TOWNS or np.unique(x).size < 2:
                notes.append(f"too few towns or values to measure (n={row['n']})")
            else:
                row["rho"], row["rho_low"], row["rho_high"] = spearman(
                    x, y, n_boot=n_boot, seed=seed, level=level
                )
                if t.sum() >= 2 and (~t).sum() >= 2:
                    row["top_median"] = float(np.median(x[t]))
                    row["rest_median"] = float(np.median(x[~t]))
                    row["diff"] = row["top_median"] - row["rest_median"]
                    row["diff_low"], row["diff_high"] = _median_diff(
                        x[t], x[~t], n_boot, seed, level
                    )
                else:
                    notes.append(f"top {top} vs rest: too few towns in a group")
            if indicator in METHOD_WINDOWS and target == "resilience":
                notes.append(f"window inside the resilience crisis window: {_MECHANICAL}")
            if len(towns) > row["n"]:
                notes.append(f"{len(towns) - row['n']} town(s) without a value")
            rows.append(row | {"note": "; ".join(notes)})
    table = pd.DataFrame(rows, columns=COLUMNS)
    table["n"] = table["n"].astype("int64")
    categories = pd.DataFrame(
        cats, columns=["indicator", "category", "target", "n", "median", "top_n"]
    )
    return table, categories


# -- rendering ---------------------------------------------------------------------------


def _round(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype.kind == "f":
            out[col] = out[col].map(lambda v: np.nan if pd.isna(v) else float(f"{v:.4g}"))
    return out


def _display(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy().astype(object)
    for col in frame.columns:
        if frame[col].dtype.kind == "f":
            out[col] = frame[col].map(_number)
        else:
            out[col] = frame[col].map(lambda v: "" if v is None or pd.isna(v) else str(v))
    return out


def _number(v: float) -> str:
    if pd.isna(v):
        return ""
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def _markdown(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "_None._"

    def line(cells) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return "\n".join(
        [line(frame.columns), "|" + "|".join("---" for _ in frame.columns) + "|"]
        + [line(r) for r in frame.itertuples(index=False)]
    )


def _html_table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for r in frame.itertuples(index=False):
        cells = "".join(
            f'<td class="num">{html.escape(v)}</td>'
            if v[:1].isdigit() or v[:1] == "-"
            else f"<td>{html.escape(v)}</td>"
            for v in map(str, r)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def scatter_png(result: Drivers, indicator: str, target: str, *, label: int = 12) -> bytes:
    """Draw `target` against `indicator`, towns named, as PNG bytes.

    The top N towns by `target` are drawn in colour; the `label` highest by `target`
    and the most extreme by `indicator` carry their names.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    towns = result.towns
    x = pd.to_numeric(towns[indicator], errors="coerce")
    y = pd.to_numeric(towns[target], errors="coerce")
    ok = x.notna() & y.notna()
    x, y, names = x[ok], y[ok], towns.loc[ok, "name"].astype(str)
    top = (y.rank(ascending=False, method="first") <= result.top).to_numpy()
    fig = Figure(figsize=(6.4, 4.4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.scatter(x[~top], y[~top], s=14, color="#95a5a6", label="rest")
    ax.scatter(x[top], y[top], s=18, color="#c0392b", label=f"top {result.top} by {target}")
    named = set(y.nlargest(label).index) | set(x.nlargest(3).index) | set(x.nsmallest(3).index)
    for i in named:
        ax.annotate(names[i], (x[i], y[i]), fontsize=6, xytext=(3, 2), textcoords="offset points")
    row = result.table[
        (result.table["indicator"] == indicator) & (result.table["target"] == target)
    ]
    if len(row) and pd.notna(row["rho"].iloc[0]):
        r = row.iloc[0]
        ax.set_title(
            f"{target} vs {indicator}: rho {r['rho']:.2f} [{r['rho_low']:.2f}, "
            f"{r['rho_high']:.2f}], n={r['n']}",
            fontsize=9,
        )
    ax.set_xlabel(indicator)
    ax.set_ylabel(target)
    ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, metadata={"Software": None})
    return buf.getvalue()


def report_section(result: Drivers, fmt: str = "html") -> str:
    """Render the report's "What drives dynamism" section: HTML (with pictures) or Markdown."""
    if fmt == "html":
        return result.to_html(page=False)
    text = result.to_markdown().replace("# What drives dynamism", "## What drives dynamism", 1)
    return text.replace("\n## ", "\n### ").replace("### What drives", "## What drives", 1)
