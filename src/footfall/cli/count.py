"""``footfall count``: pings in, hourly passages per zone out."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import click

from footfall.cli.options import HELP, examples, no_cache_option, quiet_option, zones_option
from footfall.count.engines import ENGINES
from footfall.ingest import DEFAULT_WINDOW, Columns

__all__ = ["count"]


def _clean(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    """``--clean OUT``: remove the work folder, lock and temporary files of a count on OUT."""
    if value is None or ctx.resilient_parsing:
        return
    from footfall.count._output import clean_output
    from footfall.errors import FootfallError

    try:
        removed = clean_output(value)
    except FootfallError as exc:
        raise click.ClickException(str(exc)) from exc
    names = ", ".join(str(p) for p in removed) or "nothing to remove"
    click.echo(f"removed {names}")
    ctx.exit(0)


@click.command(
    context_settings=HELP,
    epilog=examples(
        "footfall count pings/ --out hourly.parquet",
        "footfall count 'delivery/*.csv' --zones centres.gpkg --zone-id-col id --out h.parquet",
        "footfall count pings/ --scheduler tcp://10.0.0.5:8786 --out hourly.parquet",
    ),
)
@click.argument("pings", nargs=-1, required=True)
@zones_option
@click.option(
    "--clean",
    type=click.Path(path_type=Path),
    metavar="OUT",
    is_eager=True,
    expose_value=False,
    callback=_clean,
    help="Remove what an unfinished count on OUT left (its work folder of pseudonymised "
    "device data, lock and temporary files), then exit.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Hourly table (Parquet); panel, quarantine and manifest go beside it.",
)
@click.option("--tz", default="Europe/Paris", show_default=True, help="Time zone of local hours.")
@click.option("--device-col", help="Device id column [device_id, maid, ad_id, idfa, gaid…].")
@click.option("--time-col", help="Time column [timestamp, utc_timestamp, ts, time, datetime].")
@click.option("--lat-col", help="Latitude column [lat, latitude].")
@click.option("--lon-col", help="Longitude column [lon, lng, long, longitude].")
@click.option(
    "--accuracy-col",
    help="Optional accuracy column, metres [accuracy_m, horizontal_accuracy, accuracy].",
)
@click.option(
    "--max-accuracy",
    type=click.FloatRange(min=0),
    default=None,
    metavar="METRES",
    help="Quarantine pings whose accuracy is above METRES (low_accuracy) [no filter].",
)
@click.option(
    "--since",
    default=DEFAULT_WINDOW[0],
    show_default=True,
    help="Earliest plausible timestamp (UTC); older rows are quarantined.",
)
@click.option(
    "--until",
    default=DEFAULT_WINDOW[1],
    show_default=True,
    help="End of plausible timestamps (UTC, excluded).",
)
@click.option(
    "--skip-bad-files",
    is_flag=True,
    help="Skip unreadable files (recorded in the manifest) instead of failing.",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default=ENGINES[0],
    show_default=True,
    help="local: threads on this machine; dask: a Dask cluster (same result).",
)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (implies --engine dask).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Threads, or Dask worker processes of the LocalCluster (default: all CPUs).",
)
@click.option(
    "--no-intervals",
    is_flag=True,
    help="Skip the replicate tables of the 95 % intervals (<name>.replicates.parquet).",
)
@no_cache_option
@quiet_option
def count(
    pings: tuple[str, ...],
    zones_path: Path,
    out: Path,
    tz: str,
    device_col: str | None,
    time_col: str | None,
    lat_col: str | None,
    lon_col: str | None,
    accuracy_col: str | None,
    max_accuracy: float | None,
    since: str,
    until: str,
    skip_bad_files: bool,
    engine: str,
    scheduler: str | None,
    workers: int | None,
    no_intervals: bool,
    no_cache: bool,
    quiet: bool,
) -> None:
    """Count hourly passages per zone from PINGS (Parquet or CSV: files, directories, globs).

    Interrupted, the same command resumes from its checkpoints.
    """
    from footfall.count import run_count
    from footfall.index import ZoneIndex
    from footfall.ingest import file_columns, find_files
    from footfall.zones import read_zones

    columns = Columns(device_col, time_col, lat_col, lon_col, accuracy_col)
    zones = read_zones(zones_path, cache=not no_cache)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        counted = run_count(
            list(pings),
            zones,
            index=ZoneIndex(zones, cache=not no_cache),
            tz=tz,
            out=out,
            columns=columns,
            window=(since, until),
            max_accuracy=max_accuracy,
            skip_bad_files=skip_bad_files,
            engine="dask" if scheduler else engine,
            client=scheduler,
            workers=workers,
            progress=not quiet and sys.stderr.isatty(),
            intervals=not no_intervals,
        )
    manifest = counted.manifest
    # one line each, without Python's file:line prefix
    for message in [*(str(w.message) for w in caught), *manifest["warnings"]]:
        click.echo(f"warning: {message}", err=True)
    if not quiet:
        skipped = {s["path"] for s in manifest["skipped_files"]}
        read = [f for f in find_files(list(pings)) if str(f) not in skipped]
        if read:  # the names chosen in the (first) file's header, in one line
            click.echo(f"columns: {file_columns(read[0], columns).describe()}")
        acc = manifest["accounting"]
        reasons = ", ".join(f"{k} {v:,}" for k, v in acc["quarantined"].items() if v)
        click.echo(
            f"{acc['rows_read']:,} rows: {acc['rows_in_zone']:,} in a zone, "
            f"{acc['rows_outside']:,} outside, {acc['rows_quarantined']:,} quarantined"
            + (f" ({reasons})" if reasons else "")
        )
        for skipped in manifest["skipped_files"]:
            click.echo(f"skipped {skipped['path']}: {skipped['error']}", err=True)
        click.echo(f"{counted.hourly.num_rows:,} zone-hours written to {out}")
