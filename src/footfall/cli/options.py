"""Options shared by several sub-commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

__all__ = [
    "HELP",
    "examples",
    "quiet_option",
    "zones_option",
    "verbose_option",
    "overwrite_option",
    "min_count_option",
    "no_cache_option",
    "palmares_options",
    "palmares_kwargs",
    "parse_window",
    "counted_zones",
]

#: The context settings of every command: ``-h`` is ``--help``.
HELP = {"help_option_names": ["-h", "--help"]}


def examples(*lines: str) -> str:
    """Format a click epilog: 'Examples:' then the command lines, kept as written."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


def _store_zone_id_col(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    ctx.meta["footfall.zone_id_col"] = value


def _zones(ctx: click.Context, param: click.Parameter, value: Path | None) -> Any:
    # --zone-id-col is eager, so it is known here: zones with their own id column are
    # read now; otherwise the path (None: the default set) goes to the library as is.
    zone_id_col = ctx.meta.get("footfall.zone_id_col")
    if zone_id_col is None:
        return value
    from footfall.zones import read_zones

    return read_zones(value, zone_id_col=zone_id_col)


def zones_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a command with ``--zones`` (any GIS zones) and ``--zone-id-col``."""
    command = click.option(
        "--zones",
        "zones_path",
        type=click.Path(path_type=Path),
        callback=_zones,
        help="Zones: GeoJSON file or folder, .gpkg, .parquet (GeoParquet), .shp, .fgb "
        "[./zones, else the set shipped with footfall].",
    )(command)
    return click.option(
        "--zone-id-col",
        metavar="COLUMN",
        is_eager=True,
        expose_value=False,
        callback=_store_zone_id_col,
        help="Column of --zones holding the zone ids [zone_id].",
    )(command)


quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
verbose_option = click.option("-v", "--verbose", count=True, help="More detail (repeatable).")
overwrite_option = click.option(
    "--overwrite", is_flag=True, help="Replace an existing output file."
)
#: Small-count suppression of every published figure (footfall.publish), rank and report.
min_count_option = click.option(
    "--min-count",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="Publish a figure only when the busiest zone-hour behind it saw at least N "
    "distinct devices; otherwise '<N' (0: no suppression, for internal work only).",
)
no_cache_option = click.option(
    "--no-cache",
    is_flag=True,
    help="Build the zone index afresh: neither read nor write its on-disk cache.",
)

# The palmarès options, shared by `footfall rank` and `footfall report` so both agree.
#: --no-filter NAME -> the palmares() argument that lifts it.
_FILTERS = {
    "population": ("max_population", None),
    "ile-de-france": ("exclude_ile_de_france", False),
    "overseas": ("exclude_overseas", False),
    "metro-continuity": ("exclude_metro_continuity", False),
    "tourist": ("exclude_tourist", False),
}


def counted_zones(hourly: Path, zones_path: Path) -> Any:
    """Read the zone set `zones_path`, refusing one other than the set `hourly` was counted on.

    The hourly table is checked against its manifest first (see
    :func:`footfall.tables.verify_output`), whose zone hash is compared.

    Raises
    ------
    InputError
        When the hashes differ: the message names both and the remedies.
    """
    from footfall.errors import InputError
    from footfall.tables import verify_output
    from footfall.zones import read_zones

    manifest = verify_output(hourly, "hourly")
    if manifest.get("command") == "write_hourly":
        manifest = manifest.get("upstream") or manifest
    zones = read_zones(zones_path)
    counted = (manifest.get("zones") or {}).get("hash")
    if counted and counted != zones.hash:
        sources = ", ".join((manifest.get("zones") or {}).get("sources") or []) or "unknown"
        raise InputError(
            f"{hourly} was counted on zone set {counted[:12]} but --zones {zones_path} is zone "
            f"set {zones.hash[:12]} (edited since?): count again with these zones, or pass "
            f"--zones of the counted set ({sources})"
        )
    return zones


def parse_window(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[str | None, str | None] | None:
    """Click callback: ``FIRST:LAST`` local days (both inclusive; either may be empty)."""
    if value is None:
        return None

    parts = value.split(":")
    if len(parts) != 2:
        raise click.BadParameter(
            f"{value!r} is not FIRST:LAST, e.g. 2020-03-16: or 2020-01-01:2020-03-15"
        )
    try:
        import pandas as pd

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


def palmares_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a command with the palmarès options; see :func:`palmares_kwargs`."""
    for option in reversed(_PALMARES_OPTIONS):
        command = option(command)
    return command


def palmares_kwargs(options: dict[str, Any]) -> dict[str, Any]:
    """Pop the palmarès options from a command's `options`: ``palmares()`` arguments."""
    windows = {k: options.pop(k) for k in ("period", "baseline", "crisis")}
    lifted = dict(_FILTERS[name] for name in options.pop("lifted"))
    return {
        "top": options.pop("top"),
        "normalise": not options.pop("no_normalise"),
        "reference": options.pop("reference"),
        "expand": options.pop("expand"),
        "min_coverage": options.pop("min_coverage"),
        "seasonality_threshold": options.pop("seasonality_threshold"),
        "max_population": options.pop("max_population"),
        "intervals": not options.pop("no_intervals"),
        **lifted,
        **{k: v for k, v in windows.items() if v is not None},
    }


_PALMARES_OPTIONS = (
    click.option(
        "--top",
        type=click.IntRange(min=1),
        default=30,
        show_default=True,
        help="Length of the palmarès.",
    ),
    click.option("--no-normalise", is_flag=True, help="Raw passages: no panel normalisation."),
    click.option(
        "--no-intervals", is_flag=True, help="Skip the 95 % intervals (columns left empty)."
    ),
    click.option("--reference", type=float, help="Panel size to normalise to [baseline mean]."),
    click.option(
        "--expand",
        callback=_expand,
        metavar="FACTOR|population",
        help="Estimate absolute passages: a factor, or 'population' (France / panel). An estimate.",
    ),
    click.option(
        "--period",
        callback=parse_window,
        metavar="FIRST:LAST",
        help="Ranking period, local days, both inclusive [2020-03-01:2021-01-31].",
    ),
    click.option(
        "--baseline",
        callback=parse_window,
        metavar="FIRST:LAST",
        help="Resilience baseline [2020-01-01:2020-03-15].",
    ),
    click.option(
        "--crisis",
        callback=parse_window,
        metavar="FIRST:LAST",
        help="Resilience crisis [2020-03-16:] (to the end).",
    ),
    click.option(
        "--min-coverage",
        type=click.FloatRange(0, 1),
        default=0.8,
        show_default=True,
        help="Smallest share of a window's days with data.",
    ),
    click.option(
        "--max-population",
        type=click.IntRange(min=1),
        default=100_000,
        show_default=True,
        help="Keep towns below this population.",
    ),
    click.option(
        "--no-filter",
        "lifted",
        multiple=True,
        type=click.Choice(list(_FILTERS)),
        help="Lift one eligibility filter (repeatable).",
    ),
    click.option(
        "--seasonality-threshold",
        type=float,
        default=1.3,
        show_default=True,
        help="Summer/annual passages above which a town with a null tourist flag is touristic.",
    ),
)
