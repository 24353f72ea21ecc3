"""``footfall simulate``: a ping panel over the zones, with the truth it planted."""

from __future__ import annotations

from pathlib import Path

import click

from footfall.cli.options import HELP, examples, no_cache_option, quiet_option, zones_option

__all__ = ["simulate"]


@click.command(
    context_settings=HELP,
    epilog=examples(
        "footfall simulate --out pings/",
        "footfall simulate --zones centres.gpkg --start 2020-01-01 --end 2020-06-30 --out pings/",
    ),
)
@zones_option
@click.option("--start", default="2020-01-01", show_default=True, help="First local day.")
@click.option("--end", default="2021-01-31", show_default=True, help="Last local day.")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the pings (partitioned by day) and the truth.",
)
@click.option("--seed", default=0, show_default=True, help="Same seed, same pings.")
@click.option(
    "--scale",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Zone flows: ~200 x scale passages a day for a 50,000-inhabitant town.",
)
@click.option(
    "--devices",
    default=40_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Active panel devices on the first day.",
)
@click.option(
    "--drift",
    default=0.4,
    show_default=True,
    help="Yearly growth of the active panel (0.4 = +40 %).",
)
@click.option(
    "--faulty",
    default=0.002,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Share of extra faulty rows.",
)
@no_cache_option
@quiet_option
def simulate(
    zones_path: Path,
    start: str,
    end: str,
    out: Path,
    seed: int,
    scale: float,
    devices: int,
    drift: float,
    faulty: float,
    no_cache: bool,
    quiet: bool,
) -> None:
    """Simulate the pings of a national app panel, and write the truth beside them."""
    from footfall.index import ZoneIndex
    from footfall.simulation import simulate as run
    from footfall.zones import read_zones

    zones = read_zones(zones_path, cache=not no_cache)
    result = run(
        zones, start, end, out,
        seed=seed, scale=scale, devices=devices, drift=drift, faulty=faulty,
        index=ZoneIndex(zones, cache=not no_cache),
    )  # fmt: skip
    if not quiet:
        days = result.truth_days
        click.echo(
            f"{result.rows:,} pings over {len(days)} days and {len(result.truth_zones)} zones "
            f"written to {out} (truth: {out / '_truth_zones.parquet'})"
        )
