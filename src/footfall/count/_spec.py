"""What a count depends on besides its inputs and zones: :class:`CountSpec`, UTC offsets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from footfall._keyed import new_secret
from footfall.errors import InputError
from footfall.ingest import DEFAULT_WINDOW, Columns, window_seconds

__all__ = ["CountSpec"]


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
            off = _utc_offsets(self.tz, h0, h1)
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - pytz/zoneinfo raise various types
            raise InputError(f"time zone {self.tz!r} is unknown ({exc})") from exc
        return int(h0), off


_LAST_SECOND = int(pd.Timestamp.max.timestamp()) // 3600 * 3600 - 24 * 3600  # room for a day
_LAST_DAY = pd.Timestamp(_LAST_SECOND, unit="s").date().isoformat()


def _is_time(value: Any) -> bool:
    try:
        pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        return False
    return True


def _utc_offsets(tz: str, h0: int, h1: int) -> np.ndarray:
    """UTC offset in whole hours (int8) of each UTC hour ``h0 .. h1 - 1`` in `tz`.

    Offsets are looked up once a day, then hour by hour only in the days where they
    change (a time zone's offset changes a few times a year): ~1 ms for the default
    window of 45 years instead of ~25 ms for all its 394,000 hours.

    Raises
    ------
    InputError
        When an offset is not a whole number of hours.
    """

    def offset(hours: np.ndarray) -> np.ndarray:
        utc = pd.DatetimeIndex(hours * 3_600_000_000_000, tz="UTC")
        local = utc.tz_convert(tz).tz_localize(None)
        seconds = (local - utc.tz_localize(None)).total_seconds().to_numpy()
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
