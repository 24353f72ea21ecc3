"""Decoding of the ping columns: device pseudonyms, timestamps and coordinates.

The numba parsers of text timestamps (epoch numbers and ISO-8601) and the arrow
buffer helpers used by :func:`footfall.ingest.to_ping_batch`. Kernels that call each
other live here together (numba's on-disk cache keys a kernel by its file).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

from footfall._keyed import gather, keys_bytes, keys_int64, keys_uint64
from footfall.errors import InputError

_FLOAT64 = pa.float64()
# epoch integers at or above this are milliseconds (1e11 s is the year 5138)
_MS_THRESHOLD = 100_000_000_000


def _null_mask(arr: pa.Array) -> np.ndarray:
    """Boolean null mask of an array, unpacked from its validity bitmap."""
    if arr.null_count == 0:
        return np.zeros(len(arr), dtype=bool)
    bits = np.frombuffer(arr.buffers()[0], dtype=np.uint8)
    valid = np.unpackbits(bits, count=arr.offset + len(arr), bitorder="little")[arr.offset :]
    return valid == 0


def _float_values(arr: pa.Array, dtype: Any) -> np.ndarray:
    """Return a float array's values, nulls as NaN (zero-copy without nulls).

    Read from the buffers: pyarrow's ``to_numpy`` would import pandas (0.3 s).
    """
    values = _buffer(arr, 1, dtype, len(arr))
    if arr.null_count:
        values = np.where(_null_mask(arr), np.nan, values).astype(dtype, copy=False)
    return values


def _int64_values(arr: pa.Array) -> np.ndarray:
    """Return the int64 values of an integer or timestamp array (zero-copy; nulls: any)."""
    if not (pa.types.is_int64(arr.type) or pa.types.is_timestamp(arr.type)):
        arr = arr.cast(pa.int64())
    if len(arr) == 0:
        return np.empty(0, dtype=np.int64)
    return np.frombuffer(arr.buffers()[1], dtype=np.int64, count=len(arr), offset=arr.offset * 8)


@njit(nogil=True, cache=True)
def _floor_seconds(values, per_second):  # pragma: no cover - numba
    """Epoch values in units of 1/`per_second` s -> seconds (floor); 0: s or ms by size."""
    out = np.empty(len(values), np.int64)
    # one loop per unit, so that each division is by a constant (a multiplication)
    if per_second == 1:
        out[:] = values
    elif per_second == 1_000:
        for i in range(len(values)):
            out[i] = values[i] // 1_000
    elif per_second == 1_000_000:
        for i in range(len(values)):
            out[i] = values[i] // 1_000_000
    elif per_second == 1_000_000_000:
        for i in range(len(values)):
            out[i] = values[i] // 1_000_000_000
    else:  # integers of 1e11 and above are milliseconds; below, seconds
        for i in range(len(values)):
            v = values[i]
            out[i] = v // 1_000 if abs(v) >= _MS_THRESHOLD else v
    return out


def _buffer(arr: pa.Array, i: int, dtype: Any, count: int, shift: int = 0) -> np.ndarray:
    """Buffer `i` of an array as numpy (zero-copy), from element ``arr.offset + shift``."""
    buf = arr.buffers()[i]
    if buf is None or count == 0:
        return np.zeros(count, dtype)
    size = np.dtype(dtype).itemsize
    return np.frombuffer(buf, dtype=dtype, count=count, offset=(arr.offset + shift) * size)


def _text_buffers(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (rebased to the data buffer) and data bytes of a text or binary array."""
    wide = pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type)
    offsets = _buffer(arr, 1, np.int64 if wide else np.int32, len(arr) + 1)
    buf = arr.buffers()[2]
    data = np.frombuffer(buf, np.uint8) if buf is not None else np.zeros(0, np.uint8)
    return offsets, data


def _is_text(t: pa.DataType) -> bool:
    return (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
    )


def _device_keys(arr: pa.Array, where: str, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keyed 64-bit pseudonyms of a device column, and its rows without an identifier.

    See :mod:`footfall._keyed`: integers and canonical decimal text are one device;
    null, empty and blank ids are no identifier (``null_device``).
    """
    null = _null_mask(arr)
    t = arr.type
    if pa.types.is_uint64(t):
        return keys_uint64(_buffer(arr, 1, np.uint64, len(arr)), keys), null
    if pa.types.is_integer(t):
        return keys_int64(_int64_values(arr), keys), null
    if pa.types.is_dictionary(t) and _is_text(t.value_type):
        # Hash each distinct id once, then gather by index: devices repeat a lot.
        words, blank = keys_bytes(*_text_buffers(arr.dictionary), _null_mask(arr.dictionary), keys)
        indices = arr.indices
        idx = _buffer(indices, 1, indices.type.to_pandas_dtype(), len(indices))
        return gather(words, blank, idx, null)
    if _is_text(t):
        return keys_bytes(*_text_buffers(arr), null, keys)
    raise InputError(f"{where}: device column has type {t}; expected text or integer")


#: Epoch seconds outside ±this (years before 1685, after 2255) cannot be carried by
#: every reader of a timestamp (pandas' nanoseconds); they are quarantined anyway.
_T_LIMIT = 9_000_000_000
#: Stand-in of a number too large for any epoch: implausible in every window.
_T_HUGE = 1 << 62


@njit(inline="always")
def _digits(data, p, e, n):  # pragma: no cover - numba
    """Return the `n`-digit number at ``data[p:]`` (-1 when not `n` digits before `e`)."""
    if p + n > e:
        return -1
    v = 0
    for q in range(p, p + n):
        c = data[q]
        if c < 48 or c > 57:
            return -1
        v = v * 10 + (c - 48)
    return v


@njit(inline="always")
def _days_from_civil(y, m, d):  # pragma: no cover - numba
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


@njit(inline="always")
def _month_days(y, m):  # pragma: no cover - numba
    if m == 2:
        return 29 if (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else 28
    return 30 if m in (4, 6, 9, 11) else 31


@njit(inline="always")
def _parse_number(data, a, e):  # pragma: no cover - numba
    """Epoch seconds (floor) of a decimal number of seconds or milliseconds; state."""
    p = a
    negative = False
    if data[p] == 43 or data[p] == 45:  # + -
        negative = data[p] == 45
        p += 1
    ip = 0
    n_int = 0
    huge = False
    while p < e and 48 <= data[p] <= 57:
        if n_int >= 18:
            huge = True
        else:
            ip = ip * 10 + (data[p] - 48)
        if ip != 0 or n_int:
            n_int += 1
        p += 1
    any_digit = p > a + (1 if (data[a] == 43 or data[a] == 45) else 0)
    frac = False
    frac_digits = 0
    if p < e and data[p] == 46:  # .
        p += 1
        while p < e and 48 <= data[p] <= 57:
            frac = frac or data[p] != 48
            frac_digits += 1
            p += 1
    if not (any_digit or frac_digits):
        return 0, np.uint8(2)
    if p < e and (data[p] == 101 or data[p] == 69):  # exponent: via a double
        q = p + 1
        eneg = False
        if q < e and (data[q] == 43 or data[q] == 45):
            eneg = data[q] == 45
            q += 1
        if q >= e:
            return 0, np.uint8(2)
        ex = 0
        while q < e:
            c = data[q]
            if c < 48 or c > 57:
                return 0, np.uint8(2)
            ex = min(ex * 10 + (c - 48), 400)
            q += 1
        mant = 0.0
        scale = 0
        dot = False
        for r in range(a, p):
            c = data[r]
            if c == 46:
                dot = True
            elif 48 <= c <= 57:
                mant = mant * 10.0 + (c - 48)
                scale += dot
        f = mant * 10.0 ** ((-ex if eneg else ex) - scale)
        if negative:
            f = -f
        if not np.isfinite(f) or abs(f) >= 4.0e18:
            return _T_HUGE if f > 0 else -_T_HUGE, np.uint8(0)
        v = np.int64(np.floor(f))
    else:
        if p != e:
            return 0, np.uint8(2)
        if huge:
            return (-_T_HUGE if negative else _T_HUGE), np.uint8(0)
        v = -ip - (1 if frac else 0) if negative else ip
    if abs(v) >= _MS_THRESHOLD:
        v = v // 1000
    return v, np.uint8(0)


@njit(inline="always")
def _parse_iso(data, a, e):  # pragma: no cover - numba
    """UTC epoch seconds (floor) of ISO-8601 text, and a state (0 ok, 2 unparseable).

    ``YYYY-MM-DD``, optionally followed by ``T`` or a space and ``HH``, ``HH:MM``,
    ``HH:MM:SS`` or ``HH:MM:SS.fff…`` (or ``,fff``), optionally by ``Z`` or an offset
    ``±HH``, ``±HHMM``, ``±HH:MM``. Text without an offset is UTC.
    """
    y = _digits(data, a, e, 4)
    if y < 0 or a + 10 > e or data[a + 4] != 45 or data[a + 7] != 45:
        return 0, np.uint8(2)
    mo = _digits(data, a + 5, e, 2)
    d = _digits(data, a + 8, e, 2)
    if mo < 1 or mo > 12 or d < 1 or d > _month_days(y, mo):
        return 0, np.uint8(2)
    secs = _days_from_civil(y, mo, d) * 86400
    p = a + 10
    if p < e and (data[p] == 84 or data[p] == 116 or data[p] == 32):  # T t space
        p += 1
        hh = _digits(data, p, e, 2)
        if hh < 0 or hh > 23:
            return 0, np.uint8(2)
        secs += hh * 3600
        p += 2
        if p < e and data[p] == 58:  # :
            mi = _digits(data, p + 1, e, 2)
            if mi < 0 or mi > 59:
                return 0, np.uint8(2)
            secs += mi * 60
            p += 3
            if p < e and data[p] == 58:
                ss = _digits(data, p + 1, e, 2)
                if ss < 0 or ss > 59:
                    return 0, np.uint8(2)
                secs += ss
                p += 3
                if p < e and (data[p] == 46 or data[p] == 44):  # . ,
                    p += 1
                    q = p
                    while p < e and 48 <= data[p] <= 57:
                        p += 1
                    if p == q:
                        return 0, np.uint8(2)
    if p < e:
        c = data[p]
        if (c == 90 or c == 122) and p + 1 == e:  # Z z
            p += 1
        elif c == 43 or c == 45:  # + -
            oh = _digits(data, p + 1, e, 2)
            if oh < 0 or oh > 23:
                return 0, np.uint8(2)
            p += 3
            om = 0
            if p < e and data[p] == 58:
                p += 1
            if p < e:
                om = _digits(data, p, e, 2)
                if om < 0 or om > 59:
                    return 0, np.uint8(2)
                p += 2
            off = oh * 3600 + om * 60
            secs -= off if c == 43 else -off
        if p != e:
            return 0, np.uint8(2)
    return secs, np.uint8(0)


@njit(nogil=True, cache=True)
def _parse_times(offsets, data, null):  # pragma: no cover - numba
    """Parse text timestamps row by row: UTC epoch seconds and a state per row.

    State 0: parsed; 1: null, empty or blank; 2: unparseable. A number is epoch
    seconds, or milliseconds from 1e11 on (as for numeric columns); decimals are
    floored. Anything else must be ISO-8601 (:func:`_parse_iso`).
    """
    n = len(offsets) - 1
    t = np.zeros(n, np.int64)
    state = np.zeros(n, np.uint8)
    for i in range(n):
        if null[i]:
            state[i] = 1
            continue
        a, e = offsets[i], offsets[i + 1]
        while a < e and (data[a] == 32 or 9 <= data[a] <= 13):
            a += 1
        while e > a and (data[e - 1] == 32 or 9 <= data[e - 1] <= 13):
            e -= 1
        if a == e:
            state[i] = 1
            continue
        if a + 4 < e and data[a + 4] == 45 and 48 <= data[a] <= 57:  # YYYY-
            t[i], state[i] = _parse_iso(data, a, e)
        else:
            t[i], state[i] = _parse_number(data, a, e)
    return t, state


def _timestamps(arr: pa.Array, where: str) -> tuple[np.ndarray, np.ndarray]:
    """UTC epoch seconds and a state (0 ok, 1 null, 2 unparseable) for a time column.

    Text is parsed row by row: one unparseable value is one quarantined row.
    """
    t = arr.type
    if pa.types.is_dictionary(t):
        return _timestamps(arr.dictionary_decode(), where)
    state = _null_mask(arr).astype(np.uint8)
    if pa.types.is_timestamp(t):
        per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[t.unit]
        return _floor_seconds(_int64_values(arr), per_second), state
    if pa.types.is_uint64(t):
        v = _buffer(arr, 1, np.uint64, len(arr))
        return _floor_seconds(np.minimum(v, _T_HUGE).astype(np.int64), 0), state
    if pa.types.is_integer(t):
        return _floor_seconds(_int64_values(arr), 0), state
    if pa.types.is_floating(t):
        f = _float_values(arr.cast(pa.float64()).fill_null(0.0), np.float64)
        bad = ~np.isfinite(f) & (state == 0)
        state[bad] = 2
        f = np.clip(np.where(bad, 0.0, np.floor(f)), -_T_HUGE, _T_HUGE)
        return _floor_seconds(f.astype(np.int64), 0), state
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _parse_times(*_text_buffers(arr), state.astype(bool))
    raise InputError(
        f"{where}: time column has type {t}; expected a timestamp, epoch seconds or "
        "milliseconds, or ISO-8601 text"
    )


def _floats(arr: pa.Array, where: str, name: str, dtype: pa.DataType = _FLOAT64) -> np.ndarray:
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        try:
            arr = pc.cast(arr, pa.float64())
        except pa.ArrowInvalid:  # garbled text becomes NaN, and the row is quarantined
            import pandas as pd

            number = pd.to_numeric(arr.to_pandas(), errors="coerce")
            return number.to_numpy(dtype.to_pandas_dtype())
    elif not (pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_decimal(t)):
        raise InputError(f"{where}: column {name!r} has type {t}; expected a number")
    return _float_values(arr.cast(dtype), dtype.to_pandas_dtype())
