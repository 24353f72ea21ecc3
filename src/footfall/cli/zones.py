"""``footfall zones``: build, validate, fix and diff city-centre zone files."""

from __future__ import annotations

from pathlib import Path

import click

from footfall.cli.options import quiet_option

__all__ = ["zones"]

_path = click.Path(path_type=Path)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def zones() -> None:
    """Build, validate, fix and diff city-centre zone files."""


@zones.command()
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
        for path in result.kept:
            click.echo(f"kept (differs from its built form; --force to overwrite): {path}")
        click.echo(
            f"{len(result.zones)} zones: {len(result.written)} written, "
            f"{len(result.unchanged)} unchanged, {len(result.kept)} kept in {out}"
        )


@zones.command()
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
