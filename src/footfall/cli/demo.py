"""``footfall demo``: the whole chain on a small simulation over the real zones."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from footfall.cli.options import HELP, examples, no_cache_option, quiet_option

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

    from footfall.ranking import Palmares

__all__ = ["demo", "run_demo", "START", "END"]

#: The published method's data: January 2020 (baseline) to January 2021.
START, END = "2020-01-01", "2021-01-31"


def run_demo(
    out: str | Path = "footfall-demo",
    *,
    zones: str | Path | None = None,
    seed: int = 2021,
    devices: int = 4_000,
    scale: float = 0.5,
    cache: bool = True,
    console: Console | None = None,
) -> Palmares:
    """Simulate, count, rank and print the palmarès; return it.

    Parameters
    ----------
    out : path
        Folder for everything the demo writes: ``pings/`` (with the planted truth),
        ``hourly.parquet`` (with its panel and manifest), ``palmares.csv``,
        ``palmares.md``, ``palmares.manifest.json`` and ``report.html`` (with its manifest).
    zones : path, optional
        The zone set (every town is simulated; the filters then pick the eligible ones);
        default ``./zones`` or the checkout's ``zones/``.
    seed : int
        Seed of the simulation.
    devices : int
        Active panel devices on the first day (the panel then grows 40 % a year).
    scale : float
        Town-centre flows relative to the simulator's default.
    cache : bool
        Read and write the zone index's on-disk cache (see :class:`footfall.ZoneIndex`).
    console : rich.console.Console, optional
        Where to print (default: the terminal).

    Returns
    -------
    footfall.Palmares
    """
    from rich.console import Console

    from footfall.cli.rank import show_palmares
    from footfall.count import count_passages
    from footfall.index import ZoneIndex
    from footfall.ranking import palmares
    from footfall.report import write_report
    from footfall.simulation import simulate
    from footfall.zones import default_zones, read_zones

    console = console or Console()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def step(text: str) -> None:
        console.print(f"[dim]{time.perf_counter() - started:6.1f}s[/dim]  {text}")

    zone_set = read_zones(default_zones() if zones is None else zones, cache=cache)
    step(f"1/4 simulating {devices:,} devices, {len(zone_set)} towns, {START} to {END}")
    index = ZoneIndex(zone_set, cache=cache)  # one index for the simulation and the count
    sim = simulate(
        zone_set, START, END, out / "pings", seed=seed, devices=devices, scale=scale, index=index
    )
    step(f"2/4 counting hourly passages from {sim.rows:,} pings")
    hourly = count_passages(sim.pings, zone_set, index=index, out=out / "hourly.parquet")
    step("3/4 ranking")
    result = palmares(hourly, zone_set)
    result.write(
        out / "palmares.csv",
        markdown=out / "palmares.md",
        inputs=[out / "hourly.parquet"],
        upstream=hourly.attrs["manifest"],
    )
    step("4/4 writing the report (map, charts, excluded towns; opens offline)")
    write_report(hourly, zone_set, out / "report.html")
    show_palmares(result, console)
    truth = sim.truth_zones.set_index("zone_id")["resilience"]
    error = (result.scores["resilience"] - truth).abs().max()
    step(f"check: every resilience within {100 * error:.1f} points of the planted truth")
    step(f"done: {out / 'report.html'}, palmares.csv and the rest in {out}/")
    return result


@click.command(
    context_settings=HELP,
    epilog=examples(
        "footfall demo",
        "footfall demo --out /tmp/demo --devices 20000 --seed 7",
    ),
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("footfall-demo"),
    show_default=True,
    help="Folder for the demo's files.",
)
@click.option(
    "--zones",
    "zones_path",
    type=click.Path(path_type=Path),
    help="Zones (any format --zones takes) [./zones, else the set shipped with footfall].",
)
@click.option("--seed", type=int, default=2021, show_default=True, help="Same seed, same demo.")
@click.option(
    "--devices",
    type=click.IntRange(min=100),
    default=4_000,
    show_default=True,
    help="Active panel devices on the first day.",
)
@click.option(
    "--scale",
    type=click.FloatRange(min=0, min_open=True),
    default=0.5,
    show_default=True,
    help="Town-centre flows relative to the simulator's default.",
)
@no_cache_option
@quiet_option
def demo(
    out: Path,
    zones_path: Path,
    seed: int,
    devices: int,
    scale: float,
    no_cache: bool,
    quiet: bool,
) -> None:
    """Simulate a panel over the real zones (January 2020 - January 2021), count, rank.

    Prints the top 30 with their monthly passages and resilience, and the mean
    resilience of the top 30.
    """
    from rich.console import Console

    run_demo(out, zones=zones_path, seed=seed, devices=devices, scale=scale,
             cache=not no_cache, console=Console(quiet=quiet))  # fmt: skip
