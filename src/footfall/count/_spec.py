"""What a count depends on besides its inputs and zones: :class:`CountSpec`, UTC offsets."""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import numpy as np

from footfall._keyed import new_secret
from footfall.errors import InputError
from footfall.ingest import DEFAULT_WINDOW, Columns, window_seconds

__all__ = ["CountSpec", "utc_offsets"]


@dataclass(frozen=True)
class CountSpec:
    """What a count depends on, besides the inputs and the zones (picklable).

    Parameters
    ----------
    columns : Columns
        Input column names.
    tz : str
        IANA time zone of the local hours and days; its UTC offsets must be whole hours.
    window : (str, str)
        Plausible UTC timestamps ``[start, end)``; others are quarantined.
    max_accuracy : float, optional
        Pings with an accuracy above it (metres) are quarantined (``low_accuracy``).
    secret : bytes
        The run's secret, key of the device pseudonyms (drawn at random by default; the
        count fills it from its work folder, so a resumed run keeps its keys). Never
        written: it is not in :meth:`params`, the manifest or the checkpoint key, nor in
        the repr.
    replicates : bool
        Also count the replicate tables behind the 95 % intervals (issue 16).
    """

    columns: Columns = field(default_factory=Columns)
    tz: str = "Europe/Paris"
    window: tuple[str, str] = DEFAULT_WINDOW
    max_accuracy: float | None = None
    secret: bytes = field(default_factory=new_secret, repr=False, compare=False)
    replicates: bool = True

    def params(self) -> dict[str, Any]:
        """Return the parameters as a JSON-ready dict (manifest and checkpoint key)."""
        return {
            "columns": asdict(self.columns),
            "tz": self.tz,
            "window": list(self.window),
            "max_accuracy": self.max_accuracy,
            "replicates": self.replicates,
        }

    @cached_property
    def seconds(self) -> tuple[int, int]:
        """The window as UTC epoch seconds.

        Raises
        ------
        InputError
            When an end is not a date or time, or lies outside 1970 .. 2262-04-11
            (the span of nanosecond timestamps, in which local hours are computed).
        """
        try:
            start, end = window_seconds(self.window)
        except InputError:
            raise
        except (ValueError, TypeError, OverflowError) as exc:
            bad = next((w for w in self.window if not _is_time(w)), self.window)
            raise InputError(
                f"time window {list(self.window)!r}: {bad!r} is not a date or time "
                "(write it as YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS, UTC)"
            ) from exc
        if start < 0 or end > _LAST_SECOND:
            raise InputError(
                f"time window {list(self.window)!r}: it must lie between 1970-01-01 and "
                f"{_LAST_DAY} (the range of nanosecond timestamps)"
            )
        return start, end

    @cached_property
    def offsets(self) -> tuple[int, np.ndarray]:
        """``(h0, off)``: ``off[h - h0]`` is the UTC offset, in hours, of UTC hour ``h``."""
        h0, h1 = self.seconds[0] // 3600, -(-self.seconds[1] // 3600)
        if h0 < 0:
            raise InputError(f"time window {self.window!r}: it starts before 1970")
        try:
            off = utc_offsets(self.tz, h0, h1)
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - pytz/zoneinfo raise various types
            raise InputError(f"time zone {self.tz!r} is unknown ({exc})") from exc
        return int(h0), off


#: The last whole hour of nanosecond timestamps (pandas' ``Timestamp.max``, 2262-04-11
#: 23:47:16 UTC), less a day of room.
_LAST_SECOND = (2**63 - 1) // 10**9 // 3600 * 3600 - 24 * 3600
_LAST_DAY = datetime.fromtimestamp(_LAST_SECOND, UTC).date().isoformat()


def _is_time(value: Any) -> bool:
    import pandas as pd  # an error message's detail only

    try:
        pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        return False
    return True


@functools.lru_cache(maxsize=8)
def utc_offsets(tz: str, h0: int, h1: int) -> np.ndarray:
    """UTC offset in whole hours (int8) of each UTC hour ``h0 .. h1 - 1`` in `tz`.

    Offsets are looked up once a day, then hour by hour only in the days where they
    change (a time zone's offset changes a few times a year): ~25 ms for the default
    window of 45 years instead of ~0.6 s for all its 394,000 hours. The rules are
    Python's :mod:`zoneinfo` (as pandas' since 3.0).

    The result is cached (a count asks once per spec, and its map once more): do not
    modify it (it stays writeable, as the compiled kernels were typed for).

    Raises
    ------
    InputError
        When an offset is not a whole number of hours.
    """
    from zoneinfo import ZoneInfo

    try:
        zone: Any = ZoneInfo(tz)
    except (ValueError, LookupError):  # not an IANA key: what pandas takes ("+01:00", ...)
        import pandas as pd

        zone = pd.Timestamp(0, tz=tz).tzinfo

    def offset(hours: np.ndarray) -> np.ndarray:
        seconds = np.array(
            [datetime.fromtimestamp(h * 3600, zone).utcoffset().total_seconds()
             for h in hours.tolist()],
            dtype=np.int64,
        )  # fmt: skip
        if np.any(seconds % 3600):
            raise InputError(
                f"time zone {tz!r} has UTC offsets that are not whole hours; "
                "local hours would not be UTC hours"
            )
        return (seconds // 3600).astype(np.int8)

    d0, d1 = h0 // 24, -(-h1 // 24)
    daily = offset(np.arange(d0, d1 + 1, dtype=np.int64) * 24)
    off = np.repeat(daily[:-1], 24)
    changed = np.flatnonzero(daily[1:] != daily[:-1])  # days with a change within them
    at = (changed[:, None] * 24 + np.arange(24)).ravel()
    off[at] = offset(24 * d0 + at)
    return off[h0 - 24 * d0 : h1 - 24 * d0]
