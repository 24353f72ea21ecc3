"""``footfall zones``: build, validate, fix and diff city-centre zone files."""

from __future__ import annotations

from pathlib import Path

import click

from footfall.cli.options import HELP, examples, quiet_option, zones_option

__all__ = ["zones"]

_path = click.Path(path_type=Path)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")


@click.group(
    context_settings=HELP,
    epilog=examples(
        "footfall zones validate zones/",
        "footfall zones export --zones centres.gpkg --zone-id-col id --out zones.parquet",
        "footfall zones diff zones-2021/ zones/",
    ),
)
def zones() -> None:
    """Build, validate, fix, diff and export city-centre zone files."""


@zones.command(
    epilog=examples(
        "footfall zones build --out zones/",
        "footfall zones build --insee 30007 --insee 2B033 --out zones/",
    )
)
@click.option("--out", type=_path, default=Path("zones"), show_default=True, help="Directory.")
@click.option(
    "--insee", multiple=True, help="Build only this commune (repeatable), e.g. --insee 30007."
)
@click.option("--force", is_flag=True, help="Overwrite hand-edited zone files too.")
@quiet_option
def build(out: Path, insee: tuple[str, ...], force: bool, quiet: bool) -> None:
    """Build one default centre zone per town of 20,000-99,999 inhabitants.

    Files that differ from their built form are hand edits: they are kept and
    listed, unless --force.
    """
    from footfall.zones import build_zones

    result = build_zones(out, insee=insee or None, force=force)
    if not quiet:
        if result.town_hall_unused:
            click.echo(
                "centred on the commune, not the town hall (location missing or outside "
                f"the commune; check by hand): {', '.join(result.town_hall_unused)}"
            )
        for path in result.kept:
            click.echo(f"kept (differs from its built form; --force to overwrite): {path}")
        click.echo(
            f"{len(result.zones)} zones: {len(result.written)} written, "
            f"{len(result.unchanged)} unchanged, {len(result.kept)} kept in {out}"
        )


@zones.command(
    epilog=examples(
        "footfall zones validate zones/", "footfall zones validate --json --strict zones/"
    )
)
@click.argument("path", type=_path)
@json_option
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
def validate(path: Path, as_json: bool, strict: bool) -> None:
    """Check zone files; report every problem, exit 1 on any error."""
    from footfall.zones import validate_zones

    report = validate_zones(path)
    click.echo(report.to_json() if as_json else str(report))
    if not report.ok or (strict and report.warnings):
        raise SystemExit(1)


@zones.command(
    epilog=examples(
        "footfall zones fix --dry-run zones/",
        "footfall zones fix --from-crs EPSG:2154 drawn-in-lambert93.geojson",
    )
)
@click.argument("path", type=_path)
@click.option(
    "--from-crs",
    metavar="CRS",
    help="CRS of zones not in lon/lat, e.g. EPSG:2154 (Lambert-93); they are reprojected.",
)
@click.option("--dry-run", is_flag=True, help="Report what would change; write nothing.")
@json_option
def fix(path: Path, from_crs: str | None, dry_run: bool, as_json: bool) -> None:
    """Repair zone files in place and report what changed per zone.

    Closes rings, makes geometry valid (keeping polygonal parts), rewinds rings
    (RFC 7946), rounds to 6 decimals, reprojects (--from-crs), rewrites in the
    canonical format. A zone that cannot be repaired is reported and its file
    left unchanged; the exit code is then 1.
    """
    from footfall.zones import fix_zones

    report = fix_zones(path, from_crs=from_crs, dry_run=dry_run)
    click.echo(report.to_json() if as_json else str(report))
    if not report.ok:
        raise SystemExit(1)


@zones.command(
    epilog=examples(
        "footfall zones diff zones-2021/ zones/",
        "git diff --stat && footfall zones diff --exit-code old.geojson new.geojson",
    )
)
@click.argument("old", type=_path)
@click.argument("new", type=_path)
@json_option
@click.option("--exit-code", is_flag=True, help="Exit 1 when the sets differ (like git diff).")
def diff(old: Path, new: Path, as_json: bool, exit_code: bool) -> None:
    """Compare two zone files or directories: added, removed and changed zones.

    Changed zones show the properties that differ and, for geometry, the area
    change (%) and the Hausdorff distance in metres.
    """
    from footfall.zones import diff_zones

    result = diff_zones(old, new)
    click.echo(result.to_json() if as_json else str(result))
    if exit_code and not result.empty:
        raise SystemExit(1)


@zones.command(
    epilog=examples(
        "footfall zones export --out zones.gpkg",
        "footfall zones export --zones centres.shp --zone-id-col CODE --out centres.geojson",
        "footfall zones export --out zones.csv",
    )
)
@zones_option
@click.option(
    "--out",
    type=_path,
    required=True,
    help="Zones with their area_km2: .gpkg, .geojson, .parquet (GeoParquet), .csv (WKT).",
)
@quiet_option
def export(zones_path: object, out: Path, quiet: bool) -> None:
    """Write a zone set (any format --zones takes) as GeoPackage, GeoJSON, GeoParquet or CSV."""
    from footfall.manifest import atomic_path
    from footfall.zones import read_zones
    from footfall.zones._export import output_format, write_frame

    fmt = output_format(out)
    zone_set = read_zones(zones_path)
    gdf = zone_set.gdf.drop(columns=["source"], errors="ignore")
    with atomic_path(out) as tmp:
        write_frame(gdf, tmp, out)
    if not quiet:
        click.echo(f"{len(zone_set)} zones written to {out} ({fmt})")
