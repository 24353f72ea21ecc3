"""Options shared by several sub-commands."""

from __future__ import annotations

import click

__all__ = ["quiet_option", "verbose_option", "overwrite_option"]

quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
verbose_option = click.option("-v", "--verbose", count=True, help="More detail (repeatable).")
overwrite_option = click.option(
    "--overwrite", is_flag=True, help="Replace an existing output file."
)
