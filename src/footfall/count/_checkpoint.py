"""Checkpoints: one file per mapped fragment, and the work folder that holds them.

A checkpoint is written under a temporary name and renamed into place when complete:
an 8-byte magic, the length of a JSON header (where each array starts, the accounting,
and the groups and devices of each reduce range), the header, then the partial's
arrays one after the other (the quarantined rows are columns too). The work folder,
``<name>.checkpoints/<run key>/``, makes an interrupted run resumable: the run key
changes with the zones, the parameters and :data:`CHECKPOINT_VERSION`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from footfall.count._partial import _ARRAYS, _DTYPES, _GROUPS, Partial, panel_range, visit_range
from footfall.count._spec import CountSpec
from footfall.ingest import Fragment, Quarantine
from footfall.manifest import beside

__all__ = ["CHECKPOINT_VERSION", "load_partial", "work_folder", "remove_checkpoints"]

#: Bump when the checkpoint layout or the kernel's meaning changes.
CHECKPOINT_VERSION = 4
_MAGIC = b"footfall"
_HEADER = 16  # magic and header length


def _save_partial(part: Partial, path: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """Write a partial's checkpoint atomically (renamed when complete); return its meta."""
    q = part.quarantine
    columns = [
        *((name, np.ascontiguousarray(getattr(part, name), _DTYPES[name])) for name in _ARRAYS),
        # the quarantine's columns last, widest first (each stays aligned)
        *((f"quarantine.{name}", np.ascontiguousarray(getattr(q, name), dtype))
          for name, dtype in sorted(Quarantine.COLUMNS, key=lambda c: -np.dtype(c[1]).itemsize)),
    ]  # fmt: skip
    layout, at = {}, 0
    for name, arr in columns:
        layout[name] = [arr.dtype.str, at, len(arr)]
        at += arr.nbytes
    meta = {
        **meta,
        "arrays": layout,
        "accounting": part.accounting,
        "visit_ranges": _range_bounds(visit_range(part.visit_key), part.visit_passages),
        "panel_ranges": _range_bounds(panel_range(part.panel_day), part.panel_active),
        "quarantined_rows": q.num_rows,
        "quarantine_sources": list(q.sources),
    }
    header = json.dumps(meta).encode()
    header += b" " * (-len(header) % 8)  # the arrays start 8-byte aligned
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    with open(tmp, "wb") as f:
        f.write(_MAGIC + len(header).to_bytes(8, "little") + header)
        for _, arr in columns:
            f.write(arr.data)
    # A run of the same fragment that finished first (a Dask task of a client that died,
    # or one run twice) wrote the same content: replacing it changes nothing.
    os.replace(tmp, path)
    return {**meta, "base": _HEADER + len(header)}


def _range_bounds(ranges: np.ndarray, sizes: np.ndarray) -> dict[str, list[int]]:
    """Per range: ``[first group, end group, first device, end device]`` (ranges sorted)."""
    values, starts = np.unique(ranges, return_index=True)
    ends = np.append(starts[1:], len(ranges))[: len(starts)]
    dev = np.concatenate([[0], np.cumsum(sizes)])
    return {
        str(int(v)): [int(s), int(e), int(dev[s]), int(dev[e])]
        for v, s, e in zip(values, starts, ends, strict=True)
    }


def _read_meta(path: Path) -> dict[str, Any]:
    """Read the header of a finished checkpoint, with ``base``: where its arrays start."""
    with open(path, "rb") as f:
        head = f.read(_HEADER)
        if len(head) < _HEADER or head[:8] != _MAGIC:
            raise ValueError(f"{path}: not a footfall checkpoint")
        length = int.from_bytes(head[8:], "little")
        meta = json.loads(f.read(length))
    return {**meta, "base": _HEADER + length}


def _array(
    path: Path, meta: dict[str, Any], name: str, lo: int = 0, hi: int | None = None
) -> np.ndarray:
    """Rows ``lo:hi`` of a checkpointed array."""
    dtype, at, n = meta["arrays"][name]
    hi = n if hi is None else hi
    if hi <= lo:
        return np.empty(0, dtype)
    offset = meta["base"] + at + lo * np.dtype(dtype).itemsize
    return np.fromfile(path, dtype, hi - lo, offset=offset)


def load_partial(path: str | os.PathLike) -> Partial:
    """Read back a checkpointed partial (its quarantine included)."""
    path = Path(path)
    meta = _read_meta(path)
    arrays = {name: _array(path, meta, name) for name in _ARRAYS}
    return Partial(**arrays, accounting=meta["accounting"], quarantine=_quarantine(path, meta))


def _groups(path: Path, meta: dict[str, Any]) -> dict[str, np.ndarray]:
    """Read the group arrays of a checkpoint in one go (its first arrays)."""
    counts = [meta["arrays"][name][2] for name in _GROUPS]
    flat = np.fromfile(path, np.int64, sum(counts), offset=meta["base"])
    return dict(zip(_GROUPS, np.split(flat, np.cumsum(counts)[:-1]), strict=True))


def _quarantine(path: Path, meta: dict[str, Any]) -> Quarantine:
    """Read the quarantined rows of a checkpoint in one go (its last arrays)."""
    layout = [meta["arrays"][f"quarantine.{name}"] for name, _ in Quarantine.COLUMNS]
    first = min(at for _, at, _ in layout)
    size = sum(n * np.dtype(dtype).itemsize for dtype, _, n in layout)
    raw = np.fromfile(path, np.uint8, size, offset=meta["base"] + first)
    columns = (
        np.frombuffer(raw, dtype, n, at - first) if n else np.empty(0, dtype)
        for dtype, at, n in layout
    )
    return Quarantine(tuple(meta["quarantine_sources"]), *columns)


def _load_meta(path: Path, fragment: Fragment) -> dict[str, Any] | None:
    try:
        meta = _read_meta(path)
    except (OSError, ValueError):  # missing, cut short, or not a checkpoint
        return None
    return meta if meta.get("key") == fragment.key else None


def _run_key(zone_hash: str, spec: CountSpec) -> str:
    doc = {"v": CHECKPOINT_VERSION, "zones": zone_hash, "spec": spec.params()}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


@contextlib.contextmanager
def work_folder(out: str | os.PathLike | None, zone_hash: str, spec: CountSpec) -> Iterator[Path]:
    """Hold a run's checkpoints: a folder beside `out` (resumable), else a temporary one.

    Beside `out`, checkpoints of other parameters are dropped and fragments cut short
    by a kill removed; the folder stays after an error, for the next run to resume.
    """
    if out is not None:
        workdir = beside(out, "checkpoints", "") / _run_key(zone_hash, spec)
        if workdir.parent.exists():  # drop checkpoints of other parameters
            for old in workdir.parent.iterdir():
                if old != workdir:
                    shutil.rmtree(old, ignore_errors=True)
        workdir.mkdir(parents=True, exist_ok=True)
        for stale in workdir.glob("*.tmp-*"):  # fragments cut short by a kill
            stale.unlink(missing_ok=True)
        yield workdir
        return
    # A failing run may leave a Dask task still writing there while the error
    # unwinds; the cleanup must not replace that error with its own.
    with tempfile.TemporaryDirectory(prefix="footfall-count-", ignore_cleanup_errors=True) as wd:
        yield Path(wd)


def remove_checkpoints(out: str | os.PathLike | None) -> None:
    """Remove the checkpoints beside `out` once its run has succeeded."""
    if out is not None:
        shutil.rmtree(beside(out, "checkpoints", ""), ignore_errors=True)
