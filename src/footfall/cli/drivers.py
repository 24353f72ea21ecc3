"""``footfall drivers``: the palmarès beside town indicators (Spearman, top N vs the rest)."""

from __future__ import annotations

from pathlib import Path

import click

from footfall.cli.options import quiet_option, zones_option

__all__ = ["drivers"]

_file = click.Path(path_type=Path, exists=True, dir_okay=False)


@click.command(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="""\b
Examples:
  footfall drivers palmares.csv --zones zones/ --out drivers.csv
  footfall drivers palmares.csv --zones zones/ --hourly hourly.parquet \\
      --indicators towns.csv --out drivers.html
""",
)
@click.argument("palmares", type=_file)
@zones_option
@click.option(
    "--indicators",
    type=_file,
    help="CSV keyed by 'insee' (',', ';' or tab); every other column is an indicator.",
)
@click.option(
    "--hourly",
    type=_file,
    help="Hourly table (panel beside it) for the method figures (summer rebound, "
    "November and December 2020 over the baseline).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="drivers.csv (categories beside as <stem>-categories.csv), .md or .html "
    "(scatter plots inline); a manifest goes beside.",
)
@click.option("--top", type=click.IntRange(min=1), help="N of 'top N vs the rest' [30].")
@click.option(
    "--boot",
    type=click.IntRange(min=100),
    default=2000,
    show_default=True,
    help="Bootstrap draws (towns resampled).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap.")
@quiet_option
def drivers(
    palmares: Path,
    zones_path: Path,
    indicators: Path | None,
    hourly: Path | None,
    out: Path,
    top: int | None,
    boot: int,
    seed: int,
    quiet: bool,
) -> None:
    """Set the towns of PALMARES (a `footfall rank` CSV) beside indicators.

    For each indicator (population, density, distance to the nearest métropole, zone
    area, region, the method figures with --hourly, and the columns of --indicators) and
    each target (monthly_passages, resilience, method figures): the number of towns,
    Spearman's rho with a 95 % bootstrap interval over towns, and the top N vs the rest.
    Every town of PALMARES is used: rank with a large --top to use every eligible town.
    """
    from footfall.radiography import drivers as run
    from footfall.zones import read_zones

    zones = read_zones(zones_path)
    result = run(palmares, zones, indicators, hourly=hourly, top=top, n_boot=boot, seed=seed)
    inputs = [p for p in (palmares, indicators, hourly) if p is not None]
    result.write(out, inputs=inputs, zones_hash=zones.hash)
    if not quiet:
        click.echo(result.headline)
        for target in ("resilience", "monthly_passages"):
            for row in result.strongest(target, 3, mechanical=False).itertuples():
                click.echo(
                    f"  {target:<17} {row.indicator:<20} rho {row.rho:+.2f} "
                    f"[{row.rho_low:+.2f}, {row.rho_high:+.2f}]  n={row.n}"
                )
        for note in result.notes[1:]:
            click.echo(f"note: {note}")
        click.echo(f"written to {out}")
