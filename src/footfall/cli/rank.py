"""``footfall rank``: the palmarès from an hourly table, to the terminal, CSV and Markdown."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from footfall.cli.options import (
    counted_zones,
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


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("hourly", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@zones_option
@click.option("--out", type=_path, required=True, help="Palmarès CSV; its manifest goes beside it.")
@click.option("--markdown", type=_path, help="Also write the palmarès as Markdown.")
@palmares_options
@quiet_option
def rank(
    hourly: Path, zones_path: Path, out: Path, markdown: Path | None, quiet: bool, **options
) -> None:
    """Rank the town centres of HOURLY (its panel read beside it): the palmarès."""
    from footfall.ranking import palmares
    from footfall.tables import read_hourly

    zones = counted_zones(hourly, zones_path)
    table = read_hourly(hourly)
    result = palmares(table, zones, **palmares_kwargs(options))
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
