"""Column-name resolution of the ping inputs: :class:`Columns` and the vendor names.

Re-exported by :mod:`footfall.ingest` (``footfall.ingest.Columns``, ``KNOWN_NAMES``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from footfall.errors import InputError

__all__ = ["Columns", "KNOWN_NAMES"]

#: Column names recognised without options (case-insensitive), per field of :class:`Columns`.
KNOWN_NAMES: dict[str, tuple[str, ...]] = {
    "device": ("device_id", "maid", "ad_id", "advertiser_id", "caid", "idfa", "gaid"),
    "time": ("timestamp", "utc_timestamp", "ts", "time", "datetime"),
    "lat": ("lat", "latitude"),
    "lon": ("lon", "lng", "long", "longitude"),
    "accuracy": ("accuracy_m", "horizontal_accuracy", "accuracy"),
}
_FIELDS = tuple(KNOWN_NAMES)
_OPTIONS = {"device": "--device-col", "time": "--time-col", "lat": "--lat-col",
            "lon": "--lon-col", "accuracy": "--accuracy-col"}  # fmt: skip


@dataclass(frozen=True)
class Columns:
    """Names of the ping columns in the input (DESIGN §3).

    A field left ``None`` is found in each file's header among the usual vendor names
    (:data:`KNOWN_NAMES`, case-insensitive): e.g. ``maid``, ``utc_timestamp``,
    ``latitude``, ``longitude``, ``horizontal_accuracy``. A name given explicitly
    wins. ``accuracy`` is optional: used when the input has such a column.
    :meth:`resolve` gives the names of one header.
    """

    device: str | None = None
    time: str | None = None
    lat: str | None = None
    lon: str | None = None
    accuracy: str | None = None

    @classmethod
    def of(cls, value: Columns | dict[str, str] | None) -> Columns:
        """Return `value` as :class:`Columns` (``None``: every name found in the header).

        Raises
        ------
        InputError
            When a key of a dict is not a field (the message lists the valid keys).
        """
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if not isinstance(value, dict):
            raise InputError(f"columns: expected a dict or Columns, not {type(value).__name__}")
        wrong = [k for k in value if k not in _FIELDS]
        if wrong:
            raise InputError(f"columns: unknown key {wrong[0]!r}; valid keys: {', '.join(_FIELDS)}")
        return cls(**value)

    @property
    def required(self) -> tuple[str, ...]:
        """The device, time, lat and lon names (the default names where not given)."""
        return (self.device or "device_id", self.time or "timestamp", self.lat or "lat",
                self.lon or "lon")  # fmt: skip

    def resolve(self, header: Sequence[str], where: str = "") -> Columns:
        """Return the names of these columns in a file of column names `header`.

        Explicit names must be in the header (exactly, else in another case, once);
        others are looked up among :data:`KNOWN_NAMES`. ``accuracy`` is ``None`` in
        the result when the header has no accuracy column.

        Raises
        ------
        InputError
            A required column is missing (the message lists the columns found), or two
            columns of the header match one field (the message lists them).
        """
        header = [str(h) for h in header]
        lower: dict[str, list[str]] = {}
        for h in header:
            lower.setdefault(h.strip().lower(), []).append(h)
        taken = {getattr(self, f) for f in _FIELDS} - {None}
        found: dict[str, str | None] = {}
        prefix = f"{where}: " if where else ""
        for name in _FIELDS:
            given = getattr(self, name)
            if given is not None:
                match = [given] if given in header else lower.get(given.lower(), [])
                candidates = match if len(match) == 1 else []
                if len(match) > 1:
                    raise InputError(
                        f"{prefix}column {given!r} is ambiguous: {', '.join(map(repr, match))}"
                    )
            else:
                candidates = [
                    h for known in KNOWN_NAMES[name] for h in lower.get(known, []) if h not in taken
                ]
                if len(candidates) > 1:
                    raise InputError(
                        f"{prefix}several {name} columns: {', '.join(map(repr, candidates))}; "
                        f"choose one with {_OPTIONS[name]} (columns={{{name!r}: ...}})"
                    )
            if not candidates:
                if name == "accuracy" and given is None:
                    found[name] = None
                    continue
                wanted = (
                    f"column {given!r}"
                    if given
                    else f"{name} column (known names: {', '.join(KNOWN_NAMES[name])})"
                )
                raise InputError(
                    f"{prefix}no {wanted} (columns: {', '.join(map(repr, header))}); "
                    "map the names with --device-col/--time-col/--lat-col/--lon-col "
                    "(columns={'device': ..., 'time': ..., 'lat': ..., 'lon': ...})"
                )
            found[name] = candidates[0]
        return Columns(**found)

    @property
    def names(self) -> list[str]:
        """The columns to read, once resolved: device, time, lat, lon (and accuracy)."""
        return [*self.required, *([self.accuracy] if self.accuracy else [])]

    def describe(self) -> str:
        """One line naming each field's column, e.g. ``device=maid time=ts lat=lat …``."""
        return " ".join(f"{f}={getattr(self, f) or '-'}" for f in _FIELDS)
