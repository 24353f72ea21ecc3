"""The ``footfall`` command line: a thin click layer over the library.

Each sub-command lives in its own module and is imported only when it runs,
so ``footfall --help`` stays instant.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import sys
import threading

import click

from footfall import __version__
from footfall.errors import FootfallError

__all__ = ["main", "cli"]

# command name -> "module:attribute"
_COMMANDS: dict[str, str] = {
    "zones": "footfall.cli.zones:zones",
    "simulate": "footfall.cli.simulate:simulate",
    "count": "footfall.cli.count:count",
    "rank": "footfall.cli.rank:rank",
    "report": "footfall.cli.report:report",
    "drivers": "footfall.cli.drivers:drivers",
    "demo": "footfall.cli.demo:demo",
    "bench": "footfall.cli.bench:bench",
}

_HELP: dict[str, str] = {
    "zones": "Build, validate, fix, diff and export city-centre zone files.",
    "simulate": "Simulate a ping panel with planted truth.",
    "count": "Count hourly passages per zone from pings.",
    "rank": "Rank town centres: the palmarès.",
    "report": "Write the HTML (or Markdown) report.",
    "drivers": "The palmarès beside town indicators: what drives dynamism.",
    "demo": "Run the whole chain on a small simulation.",
    "bench": "Benchmark point-to-zone assignment and counting against peers.",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(_COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = _COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)

    def invoke(self, ctx: click.Context):
        # Library errors become one clear line and a non-zero exit, never a traceback.
        try:
            return super().invoke(ctx)
        except FootfallError as exc:  # with its notes (e.g. where a failed run's files are)
            raise click.ClickException(
                " ".join([str(exc), *getattr(exc, "__notes__", ())])
            ) from exc
        except OSError as exc:
            line = f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
            raise click.ClickException(" ".join([line, *getattr(exc, "__notes__", ())])) from exc

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, _HELP[name]) for name in _COMMANDS])


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="footfall")
def cli() -> None:
    """Footfall: how busy town centres are, from mobile location pings."""


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``footfall`` console script.

    The process ends as soon as the command has: after the ``atexit`` handlers (and with
    standard output flushed), without the interpreter's teardown, which would spend
    0.2-0.4 s taking numba's compiler state apart object by object. An exception other
    than ``SystemExit`` ends it the usual way.
    """
    try:
        cli.main(args=argv, prog_name="footfall")
    except SystemExit as exc:
        _exit(exc.code)
        raise


def _exit(code: object) -> None:
    """End the process with `code` as ``sys.exit`` would, skipping the interpreter's teardown.

    Returns (for the caller to exit the usual way) when a thread other than the main one
    still runs, or when this Python lacks ``atexit._run_exitfuncs``.
    """
    run_exitfuncs = getattr(atexit, "_run_exitfuncs", None)
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    if run_exitfuncs is None or any(not t.daemon for t in others):
        return
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"): printed, status 1
        print(code, file=sys.stderr)
        status = 1
    run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(status)
