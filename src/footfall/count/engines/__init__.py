"""Engines: who runs the count's map and reduce (``"local"`` threads, or ``"dask"``).

An engine is a context manager with three steps, each calling only the map/reduce
functions of :mod:`footfall.count` (never the kernels): ``list_inputs`` (files ->
fragments), ``map_fragments`` (fragments -> checkpoints) and ``reduce`` (checkpoints ->
the hourly and panel tables). This module is the one place engine names are checked.
"""

from __future__ import annotations

from typing import Any

from footfall.errors import InputError

__all__ = ["ENGINES", "get_engine"]

#: The engines' names, the first one the default.
ENGINES = ("local", "dask")


def get_engine(name: str) -> Any:
    """Return the engine class called `name`, ``engine(client, workers)`` to build one.

    Raises
    ------
    InputError
        When `name` is not one of :data:`ENGINES`.
    """
    if name not in ENGINES:
        raise InputError(f"`engine` was {name!r} but is expected to be in {ENGINES}")
    if name == "dask":
        from footfall.count.engines.dask import DaskEngine

        return DaskEngine
    from footfall.count.engines.local import LocalEngine

    return LocalEngine
