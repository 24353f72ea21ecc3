"""``footfall count``: pings in, hourly passages per zone out."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import click

from footfall.cli.options import quiet_option, zones_option
from footfall.count.engines import ENGINES
from footfall.ingest import DEFAULT_WINDOW, Columns

_COLUMNS = Columns()

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


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
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
@click.option("--device-col", default=_COLUMNS.device, show_default=True)
@click.option("--time-col", default=_COLUMNS.time, show_default=True)
@click.option("--lat-col", default=_COLUMNS.lat, show_default=True)
@click.option("--lon-col", default=_COLUMNS.lon, show_default=True)
@click.option(
    "--accuracy-col",
    default=_COLUMNS.accuracy,
    show_default=True,
    help="Optional column; used when present.",
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
@quiet_option
def count(
    pings: tuple[str, ...],
    zones_path: Path,
    out: Path,
    tz: str,
    device_col: str,
    time_col: str,
    lat_col: str,
    lon_col: str,
    accuracy_col: str,
    since: str,
    until: str,
    skip_bad_files: bool,
    engine: str,
    scheduler: str | None,
    workers: int | None,
    quiet: bool,
) -> None:
    """Count hourly passages per zone from PINGS (Parquet or CSV: files, directories, globs).

    Interrupted, the same command resumes from its checkpoints.
    """
    from footfall.count import count_passages

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        hourly = count_passages(
            list(pings),
            zones_path,
            tz=tz,
            out=out,
            columns=Columns(device_col, time_col, lat_col, lon_col, accuracy_col),
            window=(since, until),
            skip_bad_files=skip_bad_files,
            engine="dask" if scheduler else engine,
            client=scheduler,
            workers=workers,
            progress=not quiet and sys.stderr.isatty(),
        )
    for warning in caught:  # one line each, without Python's file:line prefix
        click.echo(f"warning: {warning.message}", err=True)
    if not quiet:
        manifest = hourly.attrs["manifest"]
        acc = manifest["accounting"]
        reasons = ", ".join(f"{k} {v:,}" for k, v in acc["quarantined"].items() if v)
        click.echo(
            f"{acc['rows_read']:,} rows: {acc['rows_in_zone']:,} in a zone, "
            f"{acc['rows_outside']:,} outside, {acc['rows_quarantined']:,} quarantined"
            + (f" ({reasons})" if reasons else "")
        )
        for skipped in manifest["skipped_files"]:
            click.echo(f"skipped {skipped['path']}: {skipped['error']}", err=True)
        click.echo(f"{len(hourly):,} zone-hours written to {out}")
