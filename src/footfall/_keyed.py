"""Keyed pseudonyms of device identifiers: SipHash-1-3 with a per-run secret, in numba.

Every device identifier, integer or text, becomes a 64-bit key through SipHash-1-3
(Aumasson and Bernstein's keyed PRF, the variant CPython and Rust use for their hash
tables) under a 128-bit key derived from the run's secret. Without the secret a key
says nothing about the identifier: unlike the splitmix64 finaliser (a public
bijection) or pandas' ``hash_array`` (a fixed default key), it cannot be inverted nor
linked to a list of candidate identifiers.

**One device, one key, whatever the column type.** Identifiers are canonicalised
before hashing, so that the integer ``12345`` (int64 or uint64 column) and the text
``"12345"`` (CSV ids are always text) are one device:

- an integer ``v`` in ``[0, 2**64)`` is the 8-byte message ``v`` (little-endian); a
  negative one the 9-byte message ``v`` (two's complement) + a zero byte (so that
  ``-1`` and ``2**64 - 1`` stay apart); both under the *integer* key;
- text is first stripped of leading and trailing ASCII whitespace (space, tab, CR,
  LF, VT, FF); empty or blank text is no identifier (``null_device``); text that is a
  canonical decimal integer in ``[-2**63, 2**64)`` (``-?(0|[1-9][0-9]*)``: no sign
  ``+``, no leading zero) is that integer; any other text is its UTF-8 bytes, under
  the *text* key (so that no text collides with an integer by construction);
- integers are thus hashed as integers (the fast case: one SipHash block), and a
  text id pays for its parse and bytes only.

The two 128-bit keys come from the secret through BLAKE2b (``person=b"footfall-keys"``).
The integer ``0`` is an identifier like any other (a valid device).

**Collisions.** Keys are 64 bits; distinct identifiers share a key with probability
about ``n**2 / 2**65`` for ``n`` devices (birthday bound): 3e-8 for a million devices,
3e-4 for 100 million. A collision merges two devices for the whole run, which lowers a
passage count by one at most in the zone-hours where both are seen.
"""

from __future__ import annotations

import hashlib
import secrets as _secrets
import sys

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["new_secret", "derive_keys", "keys_int64", "keys_uint64", "keys_bytes", "siphash13"]

#: Bytes of a secret drawn by :func:`new_secret`.
SECRET_BYTES = 32

_C0 = np.uint64(0x736F6D6570736575)
_C1 = np.uint64(0x646F72616E646F6D)
_C2 = np.uint64(0x6C7967656E657261)
_C3 = np.uint64(0x7465646279746573)
_FF = np.uint64(0xFF)
_2_63 = np.uint64(1 << 63)


def new_secret() -> bytes:
    """Return a fresh random secret (32 bytes from the OS's CSPRNG)."""
    return _secrets.token_bytes(SECRET_BYTES)


def derive_keys(secret: bytes) -> np.ndarray:
    """Return the SipHash keys of a secret: uint64 ``[k0, k1]`` for integers, then text.

    Raises
    ------
    ValueError
        When the secret is shorter than 16 bytes.
    """
    secret = bytes(secret)
    if len(secret) < 16:
        raise ValueError("the device-key secret must have at least 16 bytes")
    digest = hashlib.blake2b(secret, digest_size=32, person=b"footfall-keys").digest()
    return np.frombuffer(digest, dtype="<u8").astype(np.uint64)


@njit(inline="always")
def _rotl(x, b):  # pragma: no cover - numba
    return (x << np.uint64(b)) | (x >> np.uint64(64 - b))


@njit(inline="always")
def _round(v0, v1, v2, v3):  # pragma: no cover - numba
    v0 += v1
    v1 = _rotl(v1, 13)
    v1 ^= v0
    v0 = _rotl(v0, 32)
    v2 += v3
    v3 = _rotl(v3, 16)
    v3 ^= v2
    v0 += v3
    v3 = _rotl(v3, 21)
    v3 ^= v0
    v2 += v1
    v1 = _rotl(v1, 17)
    v1 ^= v2
    v2 = _rotl(v2, 32)
    return v0, v1, v2, v3


@njit(inline="always")
def _finish(v0, v1, v2, v3, b):  # pragma: no cover - numba
    """Absorb the last block `b` (1 round), then finalise (3 rounds)."""
    v3 ^= b
    v0, v1, v2, v3 = _round(v0, v1, v2, v3)
    v0 ^= b
    v2 ^= _FF
    v0, v1, v2, v3 = _round(v0, v1, v2, v3)
    v0, v1, v2, v3 = _round(v0, v1, v2, v3)
    v0, v1, v2, v3 = _round(v0, v1, v2, v3)
    return v0 ^ v1 ^ v2 ^ v3


@njit(inline="always")
def _int_key(v, negative, k0, k1):  # pragma: no cover - numba
    """SipHash-1-3 of the 8-byte message `v`, or of `v` + a zero byte when `negative`."""
    v0, v1, v2, v3 = k0 ^ _C0, k1 ^ _C1, k0 ^ _C2, k1 ^ _C3
    v3 ^= v
    v0, v1, v2, v3 = _round(v0, v1, v2, v3)
    v0 ^= v
    b = np.uint64(9 << 56) if negative else np.uint64(8 << 56)
    return _finish(v0, v1, v2, v3, b)


#: SipHash reads its message as little-endian words: one unaligned load where the
#: machine is little-endian, eight byte loads elsewhere.
_LITTLE = sys.byteorder == "little"


@intrinsic
def _load_u64(typingctx, arr, p):  # pragma: no cover - numba
    """Load ``arr[p : p + 8]`` (uint8) as one unaligned native 64-bit word."""
    sig = types.uint64(arr, types.intp)

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.gep(array.data, [args[1]])
        return builder.load(builder.bitcast(ptr, ir.IntType(64).as_pointer()), align=1)

    return sig, codegen


@njit(inline="always")
def _word(data, p):  # pragma: no cover - numba
    """Little-endian 64-bit word of ``data[p : p + 8]`` (the caller keeps it in bounds)."""
    if _LITTLE:
        return _load_u64(data, p)
    return (
        np.uint64(data[p])
        | np.uint64(data[p + 1]) << np.uint64(8)
        | np.uint64(data[p + 2]) << np.uint64(16)
        | np.uint64(data[p + 3]) << np.uint64(24)
        | np.uint64(data[p + 4]) << np.uint64(32)
        | np.uint64(data[p + 5]) << np.uint64(40)
        | np.uint64(data[p + 6]) << np.uint64(48)
        | np.uint64(data[p + 7]) << np.uint64(56)
    )


@njit(inline="always")
def _bytes_key(data, start, end, k0, k1):  # pragma: no cover - numba
    """SipHash-1-3 of ``data[start:end]``."""
    v0, v1, v2, v3 = k0 ^ _C0, k1 ^ _C1, k0 ^ _C2, k1 ^ _C3
    n = end - start
    stop = start + (n & ~7)
    p = start
    while p < stop:
        m = _word(data, p)  # p + 8 <= end: in bounds
        v3 ^= m
        v0, v1, v2, v3 = _round(v0, v1, v2, v3)
        v0 ^= m
        p += 8
    b = np.uint64(n & 0xFF) << np.uint64(56)
    s = np.uint64(0)
    while p < end:
        b |= np.uint64(data[p]) << s
        s += np.uint64(8)
        p += 1
    return _finish(v0, v1, v2, v3, b)


@njit(nogil=True, cache=True)
def siphash13(data, k0, k1):  # pragma: no cover - numba
    """SipHash-1-3 of a uint8 array under the key ``(k0, k1)`` (for tests and references)."""
    return _bytes_key(data, 0, len(data), np.uint64(k0), np.uint64(k1))


@njit(nogil=True, cache=True)
def keys_int64(values, keys):  # pragma: no cover - numba
    """Keys of int64 identifiers (`keys`: :func:`derive_keys`)."""
    k0, k1 = keys[0], keys[1]
    out = np.empty(len(values), np.uint64)
    for i in range(len(values)):
        v = values[i]
        out[i] = _int_key(np.uint64(v), v < 0, k0, k1)
    return out


@njit(nogil=True, cache=True)
def keys_uint64(values, keys):  # pragma: no cover - numba
    """Keys of uint64 identifiers (all of ``[0, 2**64)``)."""
    k0, k1 = keys[0], keys[1]
    out = np.empty(len(values), np.uint64)
    for i in range(len(values)):
        out[i] = _int_key(values[i], False, k0, k1)
    return out


@njit(inline="always")
def _is_space(c):  # pragma: no cover - numba
    return c == 32 or (c >= 9 and c <= 13)


@njit(nogil=True, cache=True)
def keys_bytes(offsets, data, null, keys):  # pragma: no cover - numba
    """Keys of text (or binary) identifiers stored as Arrow offsets and data.

    Element ``i`` is ``data[offsets[i] : offsets[i + 1]]``; `null` is its validity (True:
    null). Returns the keys and the rows that are no identifier (null, empty or blank).
    """
    n = len(offsets) - 1
    out = np.zeros(n, np.uint64)
    none = np.zeros(n, np.bool_)
    ki0, ki1, kt0, kt1 = keys[0], keys[1], keys[2], keys[3]
    big = np.uint64(1844674407370955161)  # (2**64 - 1) // 10
    for i in range(n):
        if null[i]:
            none[i] = True
            continue
        a, e = offsets[i], offsets[i + 1]
        while a < e and _is_space(data[a]):
            a += 1
        while e > a and _is_space(data[e - 1]):
            e -= 1
        if a == e:
            none[i] = True
            continue
        # a canonical decimal integer is hashed as that integer
        p = a
        negative = data[p] == 45  # "-"
        if negative:
            p += 1
        digits = e - p
        integer = 0 < digits <= 20 and (data[p] != 48 or digits == 1)  # no leading "0"
        v = np.uint64(0)
        if integer:
            for q in range(p, e):
                d = np.uint64(data[q] - 48)
                if data[q] < 48 or data[q] > 57 or v > big or (v == big and d > np.uint64(5)):
                    integer = False
                    break
                v = v * np.uint64(10) + d
        if integer and negative:
            # -0 is not canonical; the magnitude must fit in int64
            if v == np.uint64(0) or v > _2_63:
                integer = False
            else:
                v = np.uint64(0) - v
        if integer:
            out[i] = _int_key(v, negative, ki0, ki1)
        else:
            out[i] = _bytes_key(data, a, e, kt0, kt1)
    return out, none


@njit(nogil=True, cache=True)
def gather(keys, none, indices, null):  # pragma: no cover - numba
    """Keys of a dictionary array from its dictionary's keys: ``keys[indices]`` and nulls."""
    n = len(indices)
    out = np.empty(n, np.uint64)
    bad = np.empty(n, np.bool_)
    for i in range(n):
        if null[i]:
            out[i] = 0
            bad[i] = True
        else:
            j = indices[i]
            out[i] = keys[j]
            bad[i] = none[j]
    return out, bad
