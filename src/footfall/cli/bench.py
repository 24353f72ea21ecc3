"""``footfall bench``: point-to-zone assignment against peers (DESIGN §6)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from footfall.cli.options import HELP, examples, quiet_option

__all__ = ["bench"]


@click.command(
    context_settings=HELP,
    epilog=examples(
        "footfall bench",
        "footfall bench --points 1000000 --section assign --json",
    ),
)
@click.option(
    "--zones",
    "zones_path",
    type=click.Path(path_type=Path),
    help="Zone file or directory [./zones, else the set shipped with footfall].",
)
@click.option(
    "--points",
    type=click.IntRange(min=1),
    default=10_000_000,
    show_default=True,
    help="Points per mix (city and national).",
)
@click.option(
    "--peer-points",
    type=click.IntRange(min=1),
    default=1_000_000,
    show_default=True,
    help="At most this many points for the slower peers (points/s stay comparable).",
)
@click.option(
    "--repeat", type=click.IntRange(min=1), default=3, show_default=True, help="Best of N runs."
)
@click.option("--seed", type=int, default=None, help="Seed of the point mixes.")
@click.option(
    "--section",
    "sections",
    multiple=True,
    help="Run only this section (repeatable), e.g. assign, h3, exact; default: all.",
)
@click.option(
    "--quick",
    is_flag=True,
    help="A run of a few minutes on 2 cores: 1 M points, 200 k peer points, best of 2 "
    "(options given explicitly win).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@quiet_option
@click.pass_context
def bench(
    ctx: click.Context,
    zones_path: Path | None,
    points: int,
    peer_points: int,
    repeat: int,
    seed: int | None,
    sections: tuple[str, ...],
    quick: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Benchmark footfall on one fixed-seed data set (DESIGN §6).

    Point-to-zone assignment against geopandas, shapely, DuckDB spatial and h3
    (section assign), the H3 encoder against h3-py (h3), exactness at zone
    vertices and edges (exact), and the sections the counting pipeline adds.
    """
    from footfall.bench import SEED, format_report, run_bench
    from footfall.zones import default_zones

    if quick:
        default = click.core.ParameterSource.DEFAULT
        given = lambda name: ctx.get_parameter_source(name) != default  # noqa: E731
        points = points if given("points") else 1_000_000
        peer_points = peer_points if given("peer_points") else 200_000
        repeat = repeat if given("repeat") else 2

    def progress(message: str) -> None:
        if not quiet:
            click.echo(f"… {message}", err=True)

    result = run_bench(
        zones_path or default_zones(),
        points=points,
        peer_points=peer_points,
        repeat=repeat,
        seed=SEED if seed is None else seed,
        sections=list(sections) or None,
        progress=progress,
    )
    click.echo(json.dumps(result, indent=2) if as_json else format_report(result))
