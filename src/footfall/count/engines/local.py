"""The local engine: threads on this machine (the numba kernels release the GIL)."""

from __future__ import annotations

import dataclasses
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numba

from footfall.count._map import collect_fragments, list_file, map_batch, map_fragment
from footfall.count._progress import _Progress
from footfall.count._reduce import _reduce_on_disk
from footfall.count._spec import CountSpec
from footfall.ingest import Fragment, iter_batches, list_fragments

__all__ = ["LocalEngine"]


def _list_inputs(
    files: list[Path], spec: CountSpec, skip_bad_files: bool, workers: int
) -> tuple[list[Fragment], list[dict[str, str]]]:
    """Fragments of every file (hashing in threads); bad files raise or are recorded."""
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda path: list_file(path, spec, skip_bad_files), files))
    return collect_fragments(files, results)


#: Rows of the first input that :func:`_warm_up` maps to load the kernels.
_WARM_ROWS = 2048


def _map_threads(workers: int, n: int) -> int:
    """numba threads of each map thread: the cores split between ``min(workers, n)`` threads."""
    return max(1, numba.config.NUMBA_NUM_THREADS // max(1, min(workers, n)))


def _warm_up(files: list[Path], assigner: Any, spec: CountSpec, threads: int) -> None:
    """Map the first rows of the first input and drop the result: numba loads the kernels.

    Loading the cached kernels holds the GIL for a few tenths of a second; done in a
    thread while the inputs are hashed (which releases the GIL), it overlaps the
    listing instead of stalling the first map threads. The result is discarded, so it
    cannot change a count; any error is left for the real map to report.
    """
    try:
        numba.set_num_threads(threads)
        first = next(f for f in files if isinstance(f, Path) and f.suffix == ".parquet")
        fragment = list_fragments(first, spec.columns)[0]
        warm = dataclasses.replace(spec, secret=bytes(16))
        for _, batch in iter_batches(fragment, spec.columns, batch_rows=_WARM_ROWS):
            map_batch(batch.slice(0, _WARM_ROWS), assigner, warm)
            break
    except Exception:  # noqa: BLE001, S110 - only a warm-up: the map reports real errors
        pass


def _engine_local(
    fragments: list[Fragment],
    assigner: Any,
    spec: CountSpec,
    workdir: Path,
    *,
    skip_bad_files: bool,
    workers: int,
    batch_rows: int,
    progress: _Progress,
) -> tuple[list[tuple[Path, dict[str, Any]]], list[dict[str, str]]]:
    """Map every fragment (reusing finished checkpoints); return the committed partials."""
    failed: dict[str, str] = {}

    def one(i: int) -> tuple[Path, dict[str, Any]] | None:
        if fragments[i].path in failed:
            return None
        result = map_fragment(
            i, fragments[i], assigner, spec, workdir, batch_rows, skip_bad_files, progress.rows
        )
        if isinstance(result, str):
            failed[fragments[i].path] = result
            return None
        path, meta, resumed = result
        progress.file_done(meta["accounting"]["rows_read"] if resumed else 0)
        return path, meta

    # Split the cores between the map threads, so that each one's assignment kernel
    # runs on its share instead of every thread's kernel claiming all of them.
    threads = _map_threads(workers, len(fragments))
    pool = ThreadPoolExecutor(workers, initializer=numba.set_num_threads, initargs=(threads,))
    with pool:
        results = list(pool.map(one, range(len(fragments))))
    # A file that failed anywhere is skipped whole, so its rows are not half counted.
    done = [r for r in results if r is not None and r[1]["path"] not in failed]
    return done, [{"path": p, "error": e} for p, e in failed.items()]


class LocalEngine:
    """The local engine: threads on this machine (the numba kernels release the GIL).

    An engine lists the inputs, maps fragments to checkpoints and reduces the ranges;
    :class:`footfall.count.engines.dask.DaskEngine` does the same steps on a Dask cluster.
    """

    name = "local"

    def __init__(self, client: Any = None, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def list_inputs(self, files, spec, skip_bad_files, assigner=None):  # noqa: D102
        if assigner is None or not files:
            return _list_inputs(files, spec, skip_bad_files, self.workers)
        # load the map's kernels while the inputs are hashed
        threads = _map_threads(self.workers, len(files))
        warm = threading.Thread(target=_warm_up, args=(files, assigner, spec, threads), daemon=True)
        warm.start()
        try:
            return _list_inputs(files, spec, skip_bad_files, self.workers)
        finally:
            warm.join()

    def map_fragments(self, fragments, assigner, spec, workdir, **options):  # noqa: D102
        return _engine_local(fragments, assigner, spec, workdir, workers=self.workers, **options)

    def reduce(self, done, zone_ids, tz):  # noqa: D102
        return _reduce_on_disk(done, zone_ids, tz, self.workers)
