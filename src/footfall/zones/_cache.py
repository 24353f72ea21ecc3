"""On-disk cache of what a GeoJSON zone set reads to: ids, hash and geometry digest.

A warm ``footfall count`` needs only the zone ids, the zone set's hash and the
cached index, not the GeoDataFrame (pandas, geopandas and pyproj: half a second
to import and build). An entry is a small JSON file
``<cache dir>/zones-v<FORMAT_VERSION>/<key>.json``; the key hashes the entry format,
the source of the modules that decide what is read, and the name and bytes of each
file in the order read (content, not mtimes). A hit gives a lazy
:class:`~footfall.zones.ZoneSet` that reads the files when its table is first needed,
and checks them against the entry then.

Entries are written to a temporary file and renamed into place (atomic on POSIX),
so concurrent runs are safe; an unreadable entry is a miss.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "FORMAT_VERSION",
    "cache_dir",
    "discard",
    "geometry_digest",
    "load",
    "store",
    "zones_key",
]

#: Bump when the entry's fields change meaning.
FORMAT_VERSION = 1
#: Entries unused for this long are deleted when a new one is stored.
MAX_AGE_DAYS = 30
#: Modules whose code decides what a GeoJSON zone set reads to.
_READER_MODULES = ("_cache.py", "_coerce.py", "_format.py", "_schema.py", "_set.py")


def cache_dir() -> Path:
    """Folder of footfall's caches.

    ``$FOOTFALL_CACHE_DIR``, else ``$XDG_CACHE_HOME/footfall``, else
    ``~/.cache/footfall``.
    """
    own = os.environ.get("FOOTFALL_CACHE_DIR")
    if own:
        return Path(own).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "footfall"


def geometry_digest(geoms: Any) -> str:
    """SHA-256 (hex) of geometries as 2-d big-endian WKB, each with its length before it.

    A missing geometry counts as eight ``0xff`` bytes.
    """
    import shapely

    h = hashlib.sha256()
    for wkb in shapely.to_wkb(geoms, output_dimension=2, byte_order=1):
        h.update(len(wkb).to_bytes(8, "little") if wkb is not None else b"\xff" * 8)
        h.update(wkb or b"")
    return h.hexdigest()


def _entries() -> Path:
    return cache_dir() / f"zones-v{FORMAT_VERSION}"


_CODE: bytes | None = None


def _code_digest() -> bytes:
    """Digest of the reading code: a changed reader is a new key."""
    global _CODE
    if _CODE is None:
        h = hashlib.sha256()
        here = Path(__file__).parent
        for name in _READER_MODULES:
            h.update(name.encode())
            h.update((here / name).read_bytes())
        _CODE = h.digest()
    return _CODE


def zones_key(files: Sequence[Path]) -> str:
    """Hex key of a zone set read from `files`: their names and bytes, and the reading code.

    Raises
    ------
    OSError
        When a file cannot be read.
    """
    h = hashlib.sha256()
    h.update(json.dumps([FORMAT_VERSION, len(files)]).encode())
    h.update(_code_digest())
    for path in files:
        data = path.read_bytes()
        name = path.name.encode()
        h.update(len(name).to_bytes(8, "little") + name + len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()[:40]


def load(key: str) -> dict[str, Any] | None:
    """Return the entry of `key` (``ids``, ``hash``, ``geometry_digest``, ``n``), or None."""
    path = _entries() / f"{key}.json"
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = (
        isinstance(entry, dict)
        and entry.get("key") == key
        and entry.get("format") == FORMAT_VERSION
        and isinstance(entry.get("ids"), list)
        and all(isinstance(z, str) for z in entry["ids"])
        and entry.get("n") == len(entry["ids"])
        and isinstance(entry.get("hash"), str)
        and isinstance(entry.get("geometry_digest"), str)
    )
    if not ok:
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # last use, for pruning
    return entry


def store(key: str, ids: Sequence[str], zones_hash: str, digest: str) -> Path | None:
    """Write the entry of `key` atomically; its path, or None when the cache is not writable."""
    parent = _entries()
    entry = {
        "key": key,
        "format": FORMAT_VERSION,
        "n": len(ids),
        "ids": list(ids),
        "hash": zones_hash,
        "geometry_digest": digest,
    }
    tmp = None
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".tmp", dir=parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(entry, f)
        os.replace(tmp, parent / f"{key}.json")
    except OSError:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        return None  # no cache: the zones are read eagerly next time too
    _prune(parent)
    return parent / f"{key}.json"


def discard(key: str) -> None:
    """Delete the entry of `key` (when present)."""
    with contextlib.suppress(OSError):
        os.unlink(_entries() / f"{key}.json")


def _prune(parent: Path) -> None:
    """Delete entries unused for MAX_AGE_DAYS and temporary files older than a day."""
    now = time.time()
    for path in parent.iterdir():
        with contextlib.suppress(OSError):
            age = now - path.stat().st_mtime
            if age > (86400 if path.name.endswith(".tmp") else MAX_AGE_DAYS * 86400):
                path.unlink()
