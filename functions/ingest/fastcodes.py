"""Check-digit arithmetic over the raw bytes of fixed-width codes (numpy, no per-row Python).

When every value of an Arrow string array is exactly ``width`` ASCII bytes, its data buffer is
an ``n × width`` byte matrix: one table lookup and one matrix product give every check
character at once (≈20× fewer passes than slicing per position). Anything else falls back to
the generic Arrow path (docs/adr/0014).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from functions import uscc


def byte_matrix(arr: pa.Array, width: int) -> np.ndarray | None:
    """The ``n × width`` uint8 view of a string array whose values all have ``width`` bytes."""
    if arr.null_count or len(arr) == 0 or not pa.types.is_string(arr.type):
        return None
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1]
    if offsets[-1] - offsets[0] != width * len(arr) or not np.all(np.diff(offsets) == width):
        return None
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    return data.reshape(len(arr), width)


_USCC_VALUE = np.zeros(256, dtype=np.int16)
_USCC_OK = np.zeros(256, dtype=bool)  # in the 31-symbol alphabet
_DIGIT_OK = np.zeros(256, dtype=bool)
for _i, _c in enumerate(uscc.ALPHABET):
    _USCC_VALUE[ord(_c)] = _i
    _USCC_OK[ord(_c)] = True
for _c in "0123456789":
    _DIGIT_OK[ord(_c)] = True
assert 30 * sum(uscc.WEIGHTS) < np.iinfo(np.int16).max  # the weighted sum fits int16


def uscc_check(codes: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """Same contract as ``uscc.check_array``: ``(well_formed, check_ok)``."""
    arr = codes.combine_chunks() if isinstance(codes, pa.ChunkedArray) else codes
    arr = arr.cast(pa.string())
    m = byte_matrix(arr, 18)
    if m is None:  # nulls or other lengths: the generic path
        return uscc.check_array(arr)
    by_position = np.ascontiguousarray(m.T)  # one contiguous row per character position
    n = len(arr)
    well = np.ones(n, dtype=bool)
    total = np.zeros(n, dtype=np.int16)
    term = np.empty(n, dtype=np.int16)
    for pos in range(18):
        chars = by_position[pos]
        well &= (_DIGIT_OK if 2 <= pos < 8 else _USCC_OK)[chars]
        if pos < 17:
            np.take(_USCC_VALUE, chars, out=term)
            term *= uscc.WEIGHTS[pos]
            total += term
    ok = well & ((31 - total % 31) % 31 == _USCC_VALUE[by_position[17]])
    return pa.array(well), pa.array(ok)


_ID_W = np.array((7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2), dtype=np.int64)
_ID_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)


def resident_id_check(ids: pa.Array) -> pa.Array | None:
    """ISO 7064 MOD 11-2 on 18-character upper-case IDs; None when the fast path does not apply."""
    m = byte_matrix(ids, 18)
    if m is None:
        return None
    total = np.zeros(len(ids), dtype=np.int32)
    for pos, weight in enumerate(_ID_W):
        total += (m[:, pos].astype(np.int32) - ord("0")) * int(weight)
    return pa.array(_ID_CHECK[total % 11] == m[:, 17])
