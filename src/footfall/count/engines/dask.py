"""The Dask engine of ``footfall count``: the local engine's map/reduce kernel on a cluster.

The engine runs the steps of :mod:`footfall.count` unchanged, as Dask tasks:

1. **list** — one task per input file: hash it and split it into fragments
   (:func:`~footfall.count.list_file`), so the client never reads the data;
2. **map** — one task per fragment: read it in bounded batches, assign the pings with
   the zone index (scattered once to every worker, not shipped per task) and write the
   fragment's exact partial — per zone-hour and per local day, the counts and the set of
   distinct devices, sorted by reduce range — as a checkpoint
   (:func:`~footfall.count.map_fragment`);
3. **reduce** — one task per range: a range is a week of UTC hours for visits and a
   week of local days for the panel, so every copy of a (zone-hour, device) or a
   (day, device) pair, from whichever fragment, lies in one range and is counted once
   (:func:`~footfall.count.reduce_slices`; it reads the devices of a group only when
   two checkpoints hold that group). This is a shuffle by time range through the
   checkpoint directory; only the reduced zone-hours travel back to the client.

The checkpoints live beside the output (``<name>.checkpoints/``) as in the local
engine, in the same format: a run interrupted under either engine resumes under
either. The workers and the client must therefore see that directory (a shared
filesystem, as on HPC clusters, or one machine); the engine checks it before mapping.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dask

from footfall.count._map import collect_fragments, list_file, map_fragment
from footfall.count._reduce import Reduced, assemble, range_slices, reduce_slices, replicate_sums
from footfall.count._spec import CountSpec
from footfall.errors import InputError
from footfall.ingest import Fragment

__all__ = ["DaskEngine", "local_cluster"]


def local_cluster(workers: int | None = None, **options: Any) -> Any:
    """Start a :class:`distributed.LocalCluster` of worker processes sized to this machine.

    Parameters
    ----------
    workers : int, optional
        Worker processes (default: the CPUs), one thread each: the kernel runs compiled
        code, so processes, not threads, spread it over the cores.
    **options
        Passed to :class:`distributed.LocalCluster` (``memory_limit``…).

    Notes
    -----
    Each worker's numba thread pool (the zone index assigns points in parallel) gets
    its share of the cores, so that workers do not oversubscribe the machine.
    """
    from distributed import LocalCluster

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = workers or cores or 1
    numba_threads = str(max(1, (cores or 1) // workers))
    defaults = {
        "n_workers": workers,
        "threads_per_worker": 1,
        "processes": True,
        "dashboard_address": None,
        # the scheduler serves /health even without a dashboard: on a free port, not 8787
        "scheduler_kwargs": {"dashboard_address": ":0"},
        "silence_logs": logging.ERROR,
        "env": {"NUMBA_NUM_THREADS": numba_threads},
    }
    return LocalCluster(**(defaults | options))


class DaskEngine:
    """Run ``footfall count`` on Dask: list, map and reduce as tasks (see the module).

    Parameters
    ----------
    client : distributed.Client or str, optional
        A connected client, or a scheduler address (``"tcp://10.0.0.5:8786"``).
        By default, a :func:`local_cluster` of `workers` processes, closed on exit.
    workers : int, optional
        Worker processes of the default LocalCluster.

    Notes
    -----
    Use it as a context manager. Input paths are made absolute, since workers do not
    share the client's working directory; they, and the checkpoint directory, must be
    readable by the workers at the same paths.
    """

    name = "dask"

    def __init__(self, client: Any = None, workers: int | None = None) -> None:
        from distributed import Client

        if client is not None and not isinstance(client, (Client, str)):
            raise InputError(
                f"`client` was {client!r} but is expected to be a distributed.Client, "
                "a scheduler address or None"
            )
        self._given = client
        self._workers = workers
        self._owned: list[Any] = []
        self.client: Any = None

    def __enter__(self) -> DaskEngine:
        from distributed import Client

        given = self._given
        where = "a LocalCluster" if given is None else f"the scheduler at {given!r}"
        # Waits are bounded by Dask's distributed.comm.timeouts.connect, so a count never
        # hangs on a scheduler that is down or has no workers.
        timeout = dask.config.get("distributed.comm.timeouts.connect")
        try:
            if isinstance(given, Client):
                self.client = given
                where = f"the scheduler at {given.scheduler.address!r}"
            elif given is None:
                self._owned.append(local_cluster(self._workers))
                self.client = Client(self._owned[0])
            else:
                self.client = Client(given, timeout=timeout)
            if self.client is not given:
                self._owned.insert(0, self.client)
            self.client.wait_for_workers(1, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            self.__exit__()
            raise InputError(f"cannot connect to {where} or its workers ({exc})") from exc
        return self

    def __exit__(self, *exc: object) -> None:
        while self._owned:
            self._owned.pop(0).close()

    def list_inputs(
        self, files: Sequence[Path | str], spec: CountSpec, skip_bad_files: bool
    ) -> tuple[list[Fragment], list[dict[str, str]]]:
        """List the fragments of every file on the workers; bad files raise or are recorded."""
        files = [f if isinstance(f, str) else Path(f).absolute() for f in files]  # str: a URL
        futures = self.client.map(
            list_file, files, spec=spec, skip_bad_files=skip_bad_files, pure=False
        )
        return collect_fragments(files, self.client.gather(futures))

    def map_fragments(
        self,
        fragments: list[Fragment],
        assigner: Any,
        spec: CountSpec,
        workdir: Path,
        *,
        skip_bad_files: bool,
        batch_rows: int,
        progress: Any,
    ) -> tuple[list[tuple[Path, dict[str, Any]]], list[dict[str, str]]]:
        """Map every fragment to its checkpoint on the workers (reusing finished ones)."""
        from distributed import as_completed

        workdir = Path(workdir).absolute()
        self._check_visible(workdir)
        index = self.client.scatter(assigner, broadcast=True, hash=False)
        futures = [
            self.client.submit(
                map_fragment, i, frag, index, spec, workdir, batch_rows, skip_bad_files, pure=False
            )
            for i, frag in enumerate(fragments)
        ]
        order = {f.key: i for i, f in enumerate(futures)}
        results: list[Any] = [None] * len(futures)
        try:
            # One result at a time through the client's own thread: with_results=True
            # gathers from concurrent tasks, and one that fails there is never yielded
            # (seen as a hang in a loaded CI run).
            for future in as_completed(futures):
                result = future.result()
                results[order[future.key]] = result
                if not isinstance(result, str):
                    progress.file_done(result[1]["accounting"]["rows_read"])
        finally:
            self.client.cancel(futures + [index])
        failed = {
            frag.path: result
            for frag, result in zip(fragments, results, strict=True)
            if isinstance(result, str)
        }
        # A file that failed anywhere is skipped whole, as in the local engine.
        done = [
            (r[0], r[1]) for r in results if not isinstance(r, str) and r[1]["path"] not in failed
        ]
        return done, [{"path": p, "error": e} for p, e in failed.items()]

    def reduce(
        self, done: list[tuple[Path, dict[str, Any]]], zone_ids: Sequence[str], tz: str
    ) -> Reduced:
        """Reduce each range on a worker; assemble the small results on the client."""
        parts = {}
        for kind in ("visit", "panel"):
            slices = range_slices(done, kind)
            parts[kind] = self.client.map(reduce_slices, [kind] * len(slices), slices, pure=False)
        # the replicate tables of every checkpoint, summed on a worker (issue 16)
        sums = self.client.submit(replicate_sums, done, pure=False)
        visits, panel, sums = self.client.gather([parts["visit"], parts["panel"], sums])
        return assemble(visits, panel, zone_ids, tz, sums)

    def _check_visible(self, workdir: Path) -> None:
        seen = self.client.run(os.path.isdir, str(workdir))
        blind = sorted(w for w, ok in seen.items() if not ok)
        if blind:
            raise InputError(
                f"Dask worker(s) {', '.join(blind)} cannot see the checkpoint directory "
                f"{workdir}: the Dask engine needs it on storage shared by the client and "
                "the workers; write the output (`out`) there"
            )
