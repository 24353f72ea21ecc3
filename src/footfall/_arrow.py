"""numpy -> arrow without pandas: arrays built from their buffers.

``pyarrow.array`` first asks pandas whether its argument is a Series, which imports
pandas (0.3-0.4 s) on first use, even for a numpy array. The count builds its tables
with these two functions instead, so that ``footfall count`` never loads pandas.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

__all__ = ["array", "strings"]

_TYPES = {
    np.dtype(np.int8): pa.int8(),
    np.dtype(np.int16): pa.int16(),
    np.dtype(np.int32): pa.int32(),
    np.dtype(np.int64): pa.int64(),
    np.dtype(np.uint8): pa.uint8(),
    np.dtype(np.uint16): pa.uint16(),
    np.dtype(np.uint32): pa.uint32(),
    np.dtype(np.uint64): pa.uint64(),
    np.dtype(np.float32): pa.float32(),
    np.dtype(np.float64): pa.float64(),
}


def array(
    values: np.ndarray, type: pa.DataType | None = None, mask: np.ndarray | None = None
) -> pa.Array:
    """Return a numeric numpy array as arrow, as ``pa.array(values, type, mask=mask)`` would.

    Parameters
    ----------
    values : numpy.ndarray
        One-dimensional, of a fixed-width numeric dtype (no copy when contiguous).
    type : pyarrow.DataType, optional
        A type of the same width to view the values as (e.g. ``pa.date32()`` for int32
        days, ``pa.timestamp("ns", tz)`` for int64 nanoseconds); default: the dtype's.
    mask : numpy.ndarray of bool, optional
        True where the value is null.
    """
    values = np.ascontiguousarray(values)
    type = _TYPES[values.dtype] if type is None else type
    if type.bit_width != values.dtype.itemsize * 8:
        raise TypeError(f"{values.dtype} values cannot be viewed as {type}")
    validity, nulls = None, 0
    if mask is not None and mask.any():
        nulls = int(mask.sum())
        validity = pa.py_buffer(np.packbits(~np.asarray(mask, bool), bitorder="little"))
    return pa.Array.from_buffers(type, len(values), [validity, pa.py_buffer(values)], nulls)


def strings(values: Sequence[str]) -> pa.Array:
    """Return Python strings as an arrow ``string`` array (no nulls)."""
    data = [v.encode() for v in values]
    offsets = np.zeros(len(data) + 1, np.int64)
    np.cumsum(np.fromiter((len(b) for b in data), np.int64, len(data)), out=offsets[1:])
    if offsets[-1] >= 2**31:
        raise ValueError("strings: more than 2 GB of text")
    buffers = [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(b"".join(data))]
    return pa.Array.from_buffers(pa.string(), len(data), buffers)
