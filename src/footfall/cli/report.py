"""``footfall report``: the palmarès as a self-contained HTML page or Markdown with charts."""

from __future__ import annotations

from pathlib import Path

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

__all__ = ["report"]


@click.command(
    context_settings=HELP,
    epilog=examples(
        "footfall report hourly.parquet --out report.html",
        "footfall report hourly.parquet --zones centres.gpkg --out report.md",
        "footfall report h.parquet --tiles 'https://tile.osm.org/{z}/{x}/{y}.png' --out r.html",
    ),
)
@click.argument("hourly", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@zones_option
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Report file; its manifest is written beside it (<out>.manifest.json).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "md"]),
    help="html (one self-contained page) or md (Markdown, PNG charts beside it) "
    "[from the suffix of --out].",
)
@click.option("--title", default="Palmarès des centres-villes dynamiques", show_default=True)
@click.option(
    "--chart-top",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Top towns shown in the monthly chart.",
)
@min_count_option
@click.option(
    "--tiles", metavar="URL", help="Basemap tile URL template ({z}/{x}/{y}); none by default."
)
@click.option("--tiles-attribution", metavar="TEXT", help="Attribution of --tiles [its host].")
@click.option(
    "--indicators",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Town indicators (CSV keyed by insee): adds a 'What drives dynamism' section.",
)
@palmares_options
@quiet_option
def report(
    hourly: Path,
    zones_path: Path,
    out: Path,
    fmt: str | None,
    title: str,
    chart_top: int,
    min_count: int,
    tiles: str | None,
    tiles_attribution: str | None,
    indicators: Path | None,
    quiet: bool,
    **options,
) -> None:
    """Write the report of HOURLY (its panel read beside it): palmarès, map, charts."""
    from footfall.report import write_report

    path = write_report(
        hourly,
        counted_zones(hourly, zones_path),
        out,
        format=fmt,
        title=title,
        chart_top=chart_top,
        min_count=min_count,
        tiles=tiles,
        attribution=tiles_attribution,
        indicators=indicators,
        **palmares_kwargs(options),
    )
    if not quiet:
        click.echo(f"report written to {path}")
