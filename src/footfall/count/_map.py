"""MAP: input rows -> a :class:`Partial` (one batch), or a checkpoint (one fragment).

Any engine calls :func:`list_file` (one input file -> its fragments) and
:func:`map_fragment` (one fragment -> its checkpoint); the map's tables live in
:class:`~footfall.count._kernels._Tally`.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from footfall.count._checkpoint import _load_meta, _save_partial
from footfall.count._kernels import _Tally
from footfall.count._partial import Partial
from footfall.count._spec import CountSpec
from footfall.errors import InputError
from footfall.ingest import Fragment, iter_batches, list_fragments

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["map_batch", "map_fragment", "list_file", "collect_fragments"]

# What reading a corrupt or unreadable file raises (pyarrow's errors included).
_BAD_FILE = (OSError, pa.ArrowException, UnicodeDecodeError, csv.Error)


def map_batch(
    batch: pa.RecordBatch | pa.Table,
    assigner: Any,
    spec: CountSpec,
    *,
    source: str = "",
    row0: int = 0,
) -> Partial:
    """MAP: one batch of input rows -> a :class:`Partial`.

    Parameters
    ----------
    batch : pyarrow.RecordBatch or pyarrow.Table
        Input columns named by ``spec.columns`` (any supported types, DESIGN §3).
    assigner : ZoneIndex
        Anything with ``assign(lon, lat) -> int32 zone row or -1``.
    spec : CountSpec
        Columns, time zone and plausible window.
    source : str
        Name of the input, recorded with quarantined rows.
    row0 : int
        Row number, in `source`, of the batch's first row.

    Returns
    -------
    Partial
        The exact counts of the batch, with their device sets; a pure function of its
        arguments (the order of the devices within a group aside).
    """
    tally = _Tally(spec, batch.num_rows)
    tally.add(batch, assigner, source, row0)
    return tally.partial()


def _map_fragment(
    fragment: Fragment,
    assigner: Any,
    spec: CountSpec,
    path: Path,
    batch_rows: int,
    on_rows: Callable[[int], None],
) -> dict[str, Any]:
    # One table for the whole fragment: its pairs are unique across its batches.
    tally = _Tally(spec, min(fragment.rows or batch_rows, batch_rows))
    for row0, batch in iter_batches(fragment, spec.columns, batch_rows=batch_rows):
        tally.add(batch, assigner, fragment.path, row0)
        on_rows(batch.num_rows)
    meta = {"path": fragment.path, "key": fragment.key}
    return _save_partial(tally.partial(), path, meta)


def map_fragment(
    i: int,
    fragment: Fragment,
    assigner: Any,
    spec: CountSpec,
    workdir: Path,
    batch_rows: int,
    skip_bad_files: bool,
    on_rows: Callable[[int], None] = lambda n: None,
) -> tuple[Path, dict[str, Any], bool] | str:
    """Map fragment `i` into its checkpoint under `workdir`, or reuse a finished one.

    Returns ``(checkpoint path, meta, resumed)``, or the error of an unreadable file when
    `skip_bad_files` (else it raises :class:`InputError`). Any engine calls this.
    """
    path = workdir / f"{i:06d}-{hashlib.sha256(fragment.key.encode()).hexdigest()[:16]}.ckpt"
    meta = _load_meta(path, fragment)
    if meta is not None:  # finished by an earlier, interrupted run
        return path, meta, True
    try:
        meta = _map_fragment(fragment, assigner, spec, path, batch_rows, on_rows)
    except InputError:
        raise
    except _BAD_FILE as exc:
        if not skip_bad_files:
            raise _unreadable(fragment.path, exc) from exc
        return str(exc)
    return path, meta, False


def _dataframe_fragment(df: pd.DataFrame, spec: CountSpec) -> pa.Table:
    names = spec.columns.resolve(list(df.columns), "pings DataFrame").names
    return pa.Table.from_pandas(df[names], preserve_index=False)


def list_file(path: Path, spec: CountSpec, skip_bad_files: bool) -> list[Fragment] | str:
    """Fragments of one input file; an unreadable one raises, or gives its error to skip it."""
    try:
        return list_fragments(path, spec.columns)
    except InputError:
        raise
    except _BAD_FILE as exc:
        if not skip_bad_files:
            raise _unreadable(path, exc) from exc
        return str(exc)


def _unreadable(path: Path | str, exc: Exception) -> InputError:
    return InputError(f"{path}: unreadable ping file ({exc}); use --skip-bad-files to go on")


def collect_fragments(
    files: Sequence[Path], results: Iterable[list[Fragment] | str]
) -> tuple[list[Fragment], list[dict[str, str]]]:
    """Gather :func:`list_file` results: every fragment, and the skipped files."""
    fragments, skipped = [], []
    for path, result in zip(files, results, strict=True):
        if isinstance(result, str):
            skipped.append({"path": str(path), "error": result})
        else:
            fragments += result
    return fragments, skipped
