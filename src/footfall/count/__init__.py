"""Hourly passages per zone: the map/reduce count and its engines.

The count splits in two steps that any engine can call:

* **map** — :func:`map_batch` (one batch) and :func:`map_fragment` (one fragment, to a
  checkpoint) turn input rows into a :class:`Partial`: the exact counts of each
  zone-hour and local day with the set of distinct devices behind each, row accounting
  and the quarantined rows;
* **reduce** — :func:`merge_partials` unites partials exactly, :func:`reduce_partials`
  gives the hourly, panel and replicate tables (in arrow: :class:`Reduced`); checkpoints
  are reduced by time range (:func:`range_slices`, :func:`reduce_slices`,
  :func:`assemble`), which bounds memory.

:func:`run_count` reads as resolve -> ``engine.run`` (list, map, reduce) -> finish, in
arrow (the CLI needs no pandas); :func:`count_passages` is it with the hourly table as a
DataFrame.

Layering rule
-------------
Modules import one way: ``_spec``, ``_partial`` -> ``_kernels`` -> ``_checkpoint`` ->
``_map``, ``_reduce`` -> ``engines`` -> ``_run``. Engines (:mod:`footfall.count.engines`)
call only the map/reduce functions (``_map``, ``_reduce``), never a kernel. The kernels
(``_kernels``) own their table state: only :class:`~footfall.count._kernels._Tally`
touches the hash tables and their ``state`` slots; what leaves it is a :class:`Partial`.
Keep numba kernels that call each other in ``_kernels.py`` (numba's on-disk cache checks
only a cached function's own file). Nothing here reads or writes the finished tables'
format: that is :mod:`footfall.tables`.

Names load lazily, so that ``footfall.count.engines.ENGINES`` (the CLI's choices) does
not load numba.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from footfall._lazy import lazy_names

# public name -> module that defines it
_LAZY: dict[str, str] = {
    "count_passages": "footfall.count._run",
    "run_count": "footfall.count._run",
    "Counted": "footfall.count._run",
    "CountSpec": "footfall.count._spec",
    "Partial": "footfall.count._partial",
    "visit_range": "footfall.count._partial",
    "panel_range": "footfall.count._partial",
    "RANGE_HOURS": "footfall.count._partial",
    "RANGE_DAYS": "footfall.count._partial",
    "map_batch": "footfall.count._map",
    "map_fragment": "footfall.count._map",
    "list_file": "footfall.count._map",
    "collect_fragments": "footfall.count._map",
    "merge_partials": "footfall.count._reduce",
    "reduce_partials": "footfall.count._reduce",
    "hourly_table": "footfall.count._reduce",
    "panel_table": "footfall.count._reduce",
    "Reduced": "footfall.count._reduce",
    "range_slices": "footfall.count._reduce",
    "reduce_slices": "footfall.count._reduce",
    "assemble": "footfall.count._reduce",
    "load_partial": "footfall.count._checkpoint",
    "CHECKPOINT_VERSION": "footfall.count._checkpoint",
    "ENGINES": "footfall.count.engines",
    "get_engine": "footfall.count.engines",
}

# Spelled out so that linters see the public names; tests/test_imports.py checks them.
__all__ = [
    "CHECKPOINT_VERSION",
    "CountSpec",
    "Counted",
    "ENGINES",
    "Partial",
    "RANGE_DAYS",
    "RANGE_HOURS",
    "Reduced",
    "assemble",
    "collect_fragments",
    "count_passages",
    "get_engine",
    "hourly_table",
    "list_file",
    "load_partial",
    "map_batch",
    "map_fragment",
    "merge_partials",
    "panel_range",
    "panel_table",
    "range_slices",
    "reduce_partials",
    "reduce_slices",
    "run_count",
    "visit_range",
]


__getattr__, __dir__ = lazy_names("footfall.count", _LAZY, __all__, globals())


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from footfall.count._checkpoint import CHECKPOINT_VERSION, load_partial
    from footfall.count._map import collect_fragments, list_file, map_batch, map_fragment
    from footfall.count._partial import (
        RANGE_DAYS,
        RANGE_HOURS,
        Partial,
        panel_range,
        visit_range,
    )
    from footfall.count._reduce import (
        Reduced,
        assemble,
        hourly_table,
        merge_partials,
        panel_table,
        range_slices,
        reduce_partials,
        reduce_slices,
    )
    from footfall.count._run import Counted, count_passages, run_count
    from footfall.count._spec import CountSpec
    from footfall.count.engines import ENGINES, get_engine
