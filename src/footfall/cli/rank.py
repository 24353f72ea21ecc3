"""``footfall rank``: the palmarès from an hourly table, to the terminal, CSV and Markdown."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from footfall.cli.options import (
    HELP,
    counted_zones,
    examples,
    min_count_option,
    palmares_kwargs,
    palmares_options,
    quiet_option,
    zones_option,
)

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

    from footfall.ranking import Palmares

__all__ = ["rank", "show_palmares"]

_path = click.Path(path_type=Path)


@click.command(
    context_settings=HELP,
    epilog=examples(
        "footfall rank hourly.parquet --out palmares.csv",
        "footfall rank hourly.parquet --out palmares.gpkg --markdown palmares.md",
        "footfall rank hourly.parquet --top 50 --no-filter tourist --out palmares.parquet",
    ),
)
@click.argument("hourly", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@zones_option
@click.option(
    "--out",
    type=_path,
    required=True,
    help="Palmarès: .csv, or with the zone polygons .gpkg, .geojson, .parquet (GeoParquet); "
    "its manifest goes beside it.",
)
@click.option("--markdown", type=_path, help="Also write the palmarès as Markdown.")
@min_count_option
@palmares_options
@quiet_option
def rank(
    hourly: Path,
    zones_path: Path,
    out: Path,
    markdown: Path | None,
    min_count: int,
    quiet: bool,
    **options,
) -> None:
    """Rank the town centres of HOURLY (its panel read beside it): the palmarès.

    Figures resting on fewer than --min-count devices are published as '<N'; text
    cells of the CSV are escaped against formula injection (see PRIVACY.md).
    """
    from footfall.ranking import palmares
    from footfall.tables import read_hourly
    from footfall.zones._export import output_format

    output_format(out)  # an unknown extension fails before any work
    zones = counted_zones(hourly, zones_path)
    table = read_hourly(hourly)
    result = palmares(table, zones, min_count=min_count, **palmares_kwargs(options))
    result.write(
        out, markdown=markdown, inputs=[hourly], upstream=table.attrs.get("manifest"), zones=zones
    )
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
    shown = result.display_intervals(compact=True)
    shown = shown.rename(columns={"monthly passages": "passages/month"})
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
