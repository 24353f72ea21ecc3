"""The local engine: threads on this machine (the numba kernels release the GIL)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numba

from footfall.count._map import collect_fragments, list_file, map_fragment
from footfall.count._progress import _Progress
from footfall.count._reduce import _reduce_on_disk
from footfall.count._spec import CountSpec
from footfall.ingest import Fragment

__all__ = ["LocalEngine"]


def _list_inputs(
    files: list[Path], spec: CountSpec, skip_bad_files: bool, workers: int
) -> tuple[list[Fragment], list[dict[str, str]]]:
    """Fragments of every file (hashing in threads); bad files raise or are recorded."""
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda path: list_file(path, spec, skip_bad_files), files))
    return collect_fragments(files, results)


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
    threads = max(1, numba.config.NUMBA_NUM_THREADS // max(1, min(workers, len(fragments))))
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

    def list_inputs(self, files, spec, skip_bad_files):  # noqa: D102 - see the class
        return _list_inputs(files, spec, skip_bad_files, self.workers)

    def map_fragments(self, fragments, assigner, spec, workdir, **options):  # noqa: D102
        return _engine_local(fragments, assigner, spec, workdir, workers=self.workers, **options)

    def reduce(self, done, zone_ids, tz):  # noqa: D102
        return _reduce_on_disk(done, zone_ids, tz, self.workers)
