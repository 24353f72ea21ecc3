"""``footfall rank``: the palmarès from an hourly table, to the terminal, CSV and Markdown."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from footfall.cli.options import quiet_option

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

    from footfall.ranking import Palmares

__all__ = ["rank", "parse_window", "show_palmares"]

_path = click.Path(path_type=Path)
_FILTERS = {
    "population": ("max_population", None),
    "ile-de-france": ("exclude_ile_de_france", False),
    "overseas": ("exclude_overseas", False),
    "metro-continuity": ("exclude_metro_continuity", False),
    "tourist": ("exclude_tourist", False),
}


def parse_window(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[str | None, str | None] | None:
    """Click callback: ``FIRST:LAST`` local days (both inclusive; either may be empty)."""
    if value is None:
        return None
    import pandas as pd

    parts = value.split(":")
    if len(parts) != 2:
        raise click.BadParameter(
            f"{value!r} is not FIRST:LAST, e.g. 2020-03-16: or 2020-01-01:2020-03-15"
        )
    try:
        days = [pd.Timestamp(p).strftime("%Y-%m-%d") if p.strip() else None for p in parts]
    except ValueError as exc:
        raise click.BadParameter(f"{value!r}: not a date ({exc})") from exc
    if None not in days and days[1] < days[0]:
        raise click.BadParameter(f"{value!r}: the window ends before it starts")
    return tuple(days)


def _expand(ctx: click.Context, param: click.Parameter, value: str | None) -> float | str | None:
    if value is None or value == "population":
        return value
    try:
        return float(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is neither a number nor 'population'") from None


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("hourly", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--zones", "zones_path", type=_path, required=True, help="Zone file or directory.")
@click.option("--out", type=_path, required=True, help="Palmarès CSV; its manifest goes beside it.")
@click.option("--markdown", type=_path, help="Also write the palmarès as Markdown.")
@click.option("--top", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--no-normalise", is_flag=True, help="Raw passages: no panel normalisation.")
@click.option("--reference", type=float, help="Panel size to normalise to [baseline mean].")
@click.option(
    "--expand",
    callback=_expand,
    metavar="FACTOR|population",
    help="Estimate absolute passages: a factor, or 'population' (France / panel). An estimate.",
)
@click.option(
    "--period",
    callback=parse_window,
    metavar="FIRST:LAST",
    help="Ranking period, local days, both inclusive [2020-03-01:2021-01-31].",
)
@click.option(
    "--baseline",
    callback=parse_window,
    metavar="FIRST:LAST",
    help="Resilience baseline [2020-01-01:2020-03-15].",
)
@click.option(
    "--crisis",
    callback=parse_window,
    metavar="FIRST:LAST",
    help="Resilience crisis [2020-03-16:] (to the end).",
)
@click.option(
    "--min-coverage",
    type=click.FloatRange(0, 1),
    default=0.8,
    show_default=True,
    help="Smallest share of a window's days with data.",
)
@click.option(
    "--max-population",
    type=click.IntRange(min=1),
    default=100_000,
    show_default=True,
    help="Keep towns below this population.",
)
@click.option(
    "--no-filter",
    "lifted",
    multiple=True,
    type=click.Choice(list(_FILTERS)),
    help="Lift one eligibility filter (repeatable).",
)
@click.option(
    "--seasonality-threshold",
    type=float,
    default=1.3,
    show_default=True,
    help="Summer/annual passages above which a town with a null tourist flag is touristic.",
)
@quiet_option
def rank(
    hourly: Path,
    zones_path: Path,
    out: Path,
    markdown: Path | None,
    top: int,
    no_normalise: bool,
    reference: float | None,
    expand: float | str | None,
    period: tuple | None,
    baseline: tuple | None,
    crisis: tuple | None,
    min_coverage: float,
    max_population: int,
    lifted: tuple[str, ...],
    seasonality_threshold: float,
    quiet: bool,
) -> None:
    """Rank the town centres of HOURLY (its panel read beside it): the palmarès."""
    from footfall.hourly import read_hourly
    from footfall.ranking import palmares

    table = read_hourly(hourly)
    windows = {"period": period, "baseline": baseline, "crisis": crisis}
    filters = dict(_FILTERS[name] for name in lifted)
    result = palmares(
        table,
        zones_path,
        top=top,
        normalise=not no_normalise,
        reference=reference,
        expand=expand,
        min_coverage=min_coverage,
        seasonality_threshold=seasonality_threshold,
        **{"max_population": max_population} | filters,
        **{k: v for k, v in windows.items() if v is not None},
    )
    result.write(out, markdown=markdown, inputs=[hourly], upstream=table.attrs.get("manifest"))
    if not quiet:
        show_palmares(result)


def show_palmares(result: Palmares, console: Console | None = None) -> None:
    """Print a palmarès as a rich table, one line per town, then its summary."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    p = result.params
    period, base, crisis = (
        [d or "end" for d in p[name]] for name in ("period", "baseline", "crisis")
    )
    table = Table(
        title=f"Palmarès: top {len(result.table)} town centres by mean monthly passages",
        caption=f"monthly passages: {period[0]} to {period[1]}"
        + ("" if p["normalise"] else " (raw, NOT normalised)")
        + f"; resilience: since {crisis[0]} vs {base[0]} to {base[1]}",
    )
    shown = result.display().rename(columns={"monthly passages": "passages/month"})
    # One line per town even in 80 columns: figures keep their width, names are cut.
    widths = {c: max(len(c), int(shown[c].str.len().max() or 0)) for c in shown.columns}
    names = ("town", "region")
    room = console.width - 3 * len(widths) - 1 - sum(w for c, w in widths.items() if c not in names)
    for name, width in widths.items():
        if name in names:
            width = min(width, max(8, room // 2))
        justify = "left" if name in names else "right"
        table.add_column(name, justify=justify, width=width, no_wrap=True, overflow="ellipsis")
    for row in shown.itertuples(index=False):
        table.add_row(*row)
    console.print(table)
    console.print(result.summary())
