"""On-disk cache of built zone indexes: one folder of ``.npy`` arrays per zone set.

Building the index of the 423 real zones takes seconds; loading it back takes
milliseconds. An entry lives in ``<cache dir>/index-v<FORMAT_VERSION>/<key>/``:
one ``.npy`` file per kernel array and ``meta.json`` (scalars, shapes, dtypes and
a BLAKE3 digest of the arrays). The key hashes what the index depends on: the
zones' geometry (a digest of its WKB, lon/lat) and identifiers in row order, the resolution asked
for, and the source of this package (its build code and constants), so an edited
zone set or a new footfall version gets a new entry and a stale one is never read.

Concurrency: an entry is written whole in a temporary folder beside it, then
renamed into place (atomic on POSIX). Two processes building the same key both
succeed (the second rename finds the entry there and drops its copy); a reader
sees either no entry or a complete one. An entry that fails any check (missing
file, wrong shape, digest mismatch) is moved aside and rebuilt.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from footfall.index._kernel import KernelArrays
from footfall.zones._cache import cache_dir

__all__ = ["FORMAT_VERSION", "cache_dir", "index_key", "load", "store"]

#: Bump when the arrays of KernelArrays change meaning or layout.
FORMAT_VERSION = 1
#: Entries not used for this long are deleted when a new one is stored (each is
#: ~50 MB for the real zone set, and every edit of the zones or new version adds one).
MAX_AGE_DAYS = 30
#: Temporary folders older than this are left over by a killed writer.
_TMP_AGE_S = 3600


def _entries() -> Path:
    return cache_dir() / f"index-v{FORMAT_VERSION}"


def _code_digest() -> bytes:
    """Digest of the index package's source: a changed build (or constant) is a new key."""
    global _CODE
    if _CODE is None:
        h = hashlib.sha256()
        for path in sorted(Path(__file__).parent.glob("*.py")):
            h.update(path.name.encode())
            h.update(path.read_bytes())
        _CODE = h.digest()
    return _CODE


_CODE: bytes | None = None


def index_key(geometry_digest: str, zone_ids: Sequence[Any], resolution: int | None) -> str:
    """Hex key of an index: geometry, zone ids, resolution and the index code.

    Parameters
    ----------
    geometry_digest : str
        :func:`footfall.zones._cache.geometry_digest` of the zones' geometry in lon/lat.
    zone_ids : sequence
        The zone ids in row order.
    resolution : int or None
        The H3 resolution asked for.
    """
    h = hashlib.sha256()
    h.update(json.dumps([FORMAT_VERSION, resolution]).encode())
    h.update(_code_digest())
    h.update(json.dumps([str(z) for z in zone_ids]).encode())
    h.update(geometry_digest.encode())
    return h.hexdigest()[:40]


def _digest(arrays: dict[str, np.ndarray]) -> str:
    import blake3

    h = blake3.blake3()
    for name in sorted(arrays):
        h.update(name.encode())
        h.update(np.ascontiguousarray(arrays[name]).view(np.uint8).reshape(-1))
    return h.hexdigest()


def load(key: str) -> KernelArrays | None:
    """Load the arrays of ``key``, memory-mapped; None when absent (or bad: then removed).

    The arrays are mapped copy-on-write: the pages are shared with the file and
    the page cache, and an accidental write would stay in this process. They
    are writeable arrays, so the numba kernels keep their one compiled
    signature (read-only arrays would compile and cache a second one).
    """
    entry = _entries() / key
    meta_path = entry / "meta.json"
    if not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("key") != key or meta.get("format") != FORMAT_VERSION:
            raise ValueError("key or format differs")
        arrays = {}
        for name, (shape, dtype) in meta["arrays"].items():
            arr = np.load(entry / f"{name}.npy", mmap_mode="c", allow_pickle=False)
            if list(arr.shape) != shape or arr.dtype.str != dtype:
                raise ValueError(f"{name}: shape {arr.shape} {arr.dtype}, expected {shape} {dtype}")
            arrays[name] = np.asarray(arr)
        if _digest(arrays) != meta["digest"]:
            raise ValueError("digest mismatch")
        result = KernelArrays(**meta["scalars"], **arrays)
    except (OSError, ValueError, KeyError, TypeError, EOFError) as exc:
        _discard(entry, f"unreadable index cache entry {entry} ({exc}); rebuilding it")
        return None
    with contextlib.suppress(OSError):
        os.utime(meta_path)  # last use, for the pruning of old entries
    return result


def store(key: str, arrays: KernelArrays) -> Path | None:
    """Write the arrays of ``key`` (atomically); the entry's folder, or None when not writable.

    A failure to write (read-only or full disk) warns and leaves no partial entry.
    """
    parent = _entries()
    entry = parent / key
    tmp = None
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", suffix=".tmp", dir=parent))
        fields = arrays._asdict()
        data = {k: v for k, v in fields.items() if isinstance(v, np.ndarray)}
        scalars = {k: _scalar(v) for k, v in fields.items() if k not in data}
        for name, arr in data.items():
            with open(tmp / f"{name}.npy", "wb") as f:
                np.save(f, np.ascontiguousarray(arr), allow_pickle=False)
        meta = {
            "key": key,
            "format": FORMAT_VERSION,
            "scalars": scalars,
            "arrays": {k: [list(v.shape), v.dtype.str] for k, v in data.items()},
            "digest": _digest(data),
        }
        # meta.json last: an entry without it is never read
        (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        try:
            os.rename(tmp, entry)
        except OSError:
            if (entry / "meta.json").exists():
                # another process stored the same key first: theirs is as good as ours
                shutil.rmtree(tmp, ignore_errors=True)
            else:  # a folder without meta.json (a hand-deleted file): never read, replace it
                _discard(entry)
                os.rename(tmp, entry)
        _prune(parent, keep=entry)
        return entry
    except OSError as exc:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        warnings.warn(f"could not cache the zone index in {parent} ({exc})", stacklevel=3)
        return None


def _prune(parent: Path, keep: Path) -> None:
    """Delete entries unused for MAX_AGE_DAYS and temporary folders of killed writers."""
    now = time.time()
    for path in parent.iterdir():
        if path == keep or not path.is_dir():
            continue
        try:
            if path.name.endswith(".tmp"):
                old = now - path.stat().st_mtime > _TMP_AGE_S
            elif path.name.endswith(".bad"):
                old = True
            else:
                old = now - (path / "meta.json").stat().st_mtime > MAX_AGE_DAYS * 86400
        except OSError:
            old = False  # no meta.json: being renamed into place, or by another process
        if old:
            aside = path.with_name(f".{path.name}.{os.getpid()}.bad")
            with contextlib.suppress(OSError):
                os.rename(path, aside)
                shutil.rmtree(aside, ignore_errors=True)


def _scalar(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _discard(entry: Path, message: str | None = None) -> None:
    """Move a bad entry aside (readers holding its files keep them) and delete it."""
    if message:
        warnings.warn(message, stacklevel=4)
    aside = entry.with_name(f".{entry.name}.{os.getpid()}.bad")
    try:
        os.rename(entry, aside)
    except OSError:
        return  # another process moved it already
    shutil.rmtree(aside, ignore_errors=True)
