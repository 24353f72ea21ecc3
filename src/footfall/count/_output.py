"""The count's output set: one lock per output, leftovers of dead runs, and ``--clean``.

A count on ``OUT`` holds an advisory lock (:func:`fcntl.flock`) on ``OUT.lock`` from start
to end: the kernel drops it when the process dies, however it dies, so a second count on
the same ``OUT`` fails at once instead of sharing the first one's checkpoints. Holding the
lock, a run knows that any ``.OUT*.tmp-PID`` file beside it is the leftover of a dead run.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from footfall.errors import InputError
from footfall.manifest import beside

__all__ = ["output_lock", "remove_leftovers", "clean_output"]


def _lock_path(out: Path) -> Path:
    return beside(out, "lock", "")


@contextlib.contextmanager
def output_lock(out: str | os.PathLike) -> Iterator[Path]:
    """Hold the lock of output `out` (``<name>.lock`` beside it) for the block.

    Raises
    ------
    InputError
        At once, when another process holds it: "another count is writing OUT (pid N)".
    """
    out = Path(out)
    path = _lock_path(out)
    if not out.parent.is_dir():
        out.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise InputError(f"another count is writing {out} (pid {_holder(path)})") from None
        # The holder before us may have removed the file between our open and our lock:
        # then we locked a file nobody else sees, and must lock the one at `path`.
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # still locked: nobody else can have taken it meanwhile
        os.close(fd)


def _holder(path: Path) -> str:
    with contextlib.suppress(OSError, ValueError):
        return str(int(path.read_text().strip()))
    return "unknown"


def _leftovers(out: Path) -> list[Path]:
    """Temporary files of the output set of `out` (``.<name>...tmp-PID``)."""
    stem = beside(out, "x", "").name[: -len(".x")]
    found = set(out.parent.glob(f".{stem}.*tmp-*")) | set(out.parent.glob(f".{out.name}.tmp-*"))
    return sorted(found)


def remove_leftovers(out: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that dead runs left beside `out` (hold its lock first)."""
    out = Path(out)
    removed = []
    for path in _leftovers(out):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed


def clean_output(out: str | os.PathLike) -> list[Path]:
    """Remove what an unfinished count on `out` left: work folder, lock and temporary files.

    The work folder (``<name>.checkpoints/``) holds pseudonymised device data and the
    run's secret; the finished outputs (tables and manifest) are kept.

    Returns
    -------
    list of Path
        What was removed.

    Raises
    ------
    InputError
        When a count is writing `out` now.
    """
    out = Path(out)
    removed = []
    stale_lock = _lock_path(out).exists()  # left by a killed run (the lock died with it)
    with output_lock(out) as lock:
        work = beside(out, "checkpoints", "")
        if work.exists():
            shutil.rmtree(work)
            removed.append(work)
        removed += remove_leftovers(out)
        if stale_lock:
            removed.append(lock)
    return removed
