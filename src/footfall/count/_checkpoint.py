"""Checkpoints: one file per mapped fragment, and the work folder that holds them.

A checkpoint is written under a temporary name and renamed into place when complete:
an 8-byte magic, the length of a JSON header (where each array starts, the accounting,
the groups and devices of each reduce range, and the total length of the arrays), the
BLAKE3 hash of everything after it, the header, then the partial's arrays one after the
other (the quarantined rows are columns too). A resumed run checks the length and the
hash of a checkpoint before reusing it, and maps its fragment again when either is wrong.

The work folder, ``<name>.checkpoints/<run key>/``, makes an interrupted run resumable:
the run key changes with the zones, the parameters and :data:`CHECKPOINT_VERSION`. It
holds pseudonymised device data (device keys per zone-hour), so it is private: folders
0700 and files 0600 whatever the umask, deleted when the run succeeds. It also holds the
run's secret (:data:`SECRET_FILE`, 16 random bytes), the key of the device pseudonyms,
which a resumed run reuses and which dies with the folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import blake3
import numpy as np

from footfall.count._partial import _ARRAYS, _DTYPES, _GROUPS, Partial, panel_range, visit_range
from footfall.count._spec import CountSpec
from footfall.ingest import Fragment, Quarantine
from footfall.manifest import beside

__all__ = [
    "CHECKPOINT_VERSION",
    "SECRET_FILE",
    "load_partial",
    "work_folder",
    "remove_checkpoints",
    "private_file",
]

#: Bump when the checkpoint layout or the kernel's meaning changes.
CHECKPOINT_VERSION = 4
_MAGIC = b"footfall"
_HEADER = 48  # magic, header length and the BLAKE3 hash of the rest
#: The run's secret in its work folder.
SECRET_FILE = "secret"
_SECRET_BYTES = 16


def private_file(path: str | os.PathLike) -> Any:
    """Open `path` for writing (binary), created 0600 whatever the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # the umask never widens it, but an old file may be wider
    return os.fdopen(fd, "wb")


def _private_dir(path: Path) -> None:
    """Create `path` (and missing parents) and make it 0700."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


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
        "size": at,
    }
    header = json.dumps(meta).encode()
    header += b" " * (-len(header) % 8)  # the arrays start 8-byte aligned
    digest = blake3.blake3(header)
    for _, arr in columns:
        digest.update(arr.view(np.uint8))
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    with private_file(tmp) as f:
        f.write(_MAGIC + len(header).to_bytes(8, "little") + digest.digest() + header)
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
        length = int.from_bytes(head[8:16], "little")
        meta = json.loads(f.read(length))
    return {**meta, "base": _HEADER + length, "blake3": head[16:].hex()}


def _intact(path: Path, meta: dict[str, Any]) -> bool:
    """Whether a checkpoint has its whole length and its hash (no byte cut or flipped)."""
    if not isinstance(meta.get("size"), int) or path.stat().st_size != meta["base"] + meta["size"]:
        return False
    digest = blake3.blake3()
    with open(path, "rb") as f:
        f.seek(_HEADER)
        while block := f.read(1 << 22):
            digest.update(block)
    return digest.hexdigest() == meta["blake3"]


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
    """Return the meta of a finished checkpoint of `fragment`, or None to map it (again).

    A checkpoint cut short or altered (its length or hash is wrong) is not reused. The
    paths it recorded are those of the fragment now (the input may have moved).
    """
    try:
        meta = _read_meta(path)
        if meta.get("key") != fragment.key or not _intact(path, meta):
            return None
    except (OSError, ValueError):  # missing, cut short, or not a checkpoint
        return None
    old = meta["path"]
    if old != fragment.path:  # same content, moved or renamed since
        meta["path"] = fragment.path
        meta["quarantine_sources"] = [
            fragment.path if s == old else s for s in meta["quarantine_sources"]
        ]
    return meta


def _run_key(zone_hash: str, spec: CountSpec) -> str:
    doc = {"v": CHECKPOINT_VERSION, "zones": zone_hash, "spec": spec.params()}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


def run_secret(workdir: Path) -> bytes:
    """Return the run's secret in `workdir`: read back (resumed run), or drawn and saved.

    Checkpoints without their secret are useless (their device keys cannot be matched):
    they are dropped, and the fragments mapped again.
    """
    path = workdir / SECRET_FILE
    with contextlib.suppress(OSError):
        secret = path.read_bytes()
        if len(secret) == _SECRET_BYTES:
            return secret
    for old in workdir.iterdir():
        if old.name != SECRET_FILE:
            old.unlink(missing_ok=True)
    secret = secrets.token_bytes(_SECRET_BYTES)
    tmp = workdir / f"{SECRET_FILE}.tmp-{os.getpid()}"
    with private_file(tmp) as f:
        f.write(secret)
    os.replace(tmp, path)
    return secret


@contextlib.contextmanager
def work_folder(out: str | os.PathLike | None, zone_hash: str, spec: CountSpec) -> Iterator[Path]:
    """Hold a run's checkpoints: a folder beside `out` (resumable), else a temporary one.

    Beside `out`, checkpoints of other parameters are dropped and fragments cut short
    by a kill removed; the folder stays after an error, for the next run to resume.
    Either folder is private (0700) and holds the run's secret (see :func:`run_secret`).
    """
    if out is not None:
        workdir = beside(out, "checkpoints", "") / _run_key(zone_hash, spec)
        if workdir.parent.exists():  # drop checkpoints of other parameters
            for old in workdir.parent.iterdir():
                if old != workdir:
                    shutil.rmtree(old, ignore_errors=True)
        _private_dir(workdir.parent)
        _private_dir(workdir)
        for stale in workdir.glob("*.tmp-*"):  # fragments cut short by a kill
            stale.unlink(missing_ok=True)
        yield workdir
        return
    # A failing run may leave a Dask task still writing there while the error
    # unwinds; the cleanup must not replace that error with its own.
    with tempfile.TemporaryDirectory(prefix="footfall-count-", ignore_cleanup_errors=True) as wd:
        _private_dir(Path(wd))
        yield Path(wd)


def remove_checkpoints(out: str | os.PathLike | None) -> None:
    """Remove the checkpoints beside `out` once its run has succeeded."""
    if out is not None:
        shutil.rmtree(beside(out, "checkpoints", ""), ignore_errors=True)
