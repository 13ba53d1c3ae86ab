"""Vectorised string building over numpy/Arrow (no per-row Python on the hot path)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

EPOCH = np.datetime64("1970-01-01", "D")


def strs(values: tuple[str, ...] | list[str], idx: np.ndarray) -> pa.Array:
    """``values[idx]`` as an Arrow string array."""
    return pa.array(values, pa.string()).take(pa.array(idx, pa.int32()))


def join(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of string arrays and literals."""
    return pc.binary_join_element_wise(*parts, "")


def digits(values: np.ndarray, width: int) -> pa.Array:
    """Non-negative integers as zero-padded decimal strings."""
    return pc.utf8_lpad(pa.array(values, pa.int64()).cast(pa.string()), width, "0")


def day_str(days: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Days since 1970-01-01 as ISO dates; ``mask`` True → null (empty in CSV)."""
    return pa.array(days.astype(np.int32), pa.date32(), mask=mask).cast(pa.string())


def month_of(days: np.ndarray) -> pa.Array:
    """``YYYY-MM`` of each day (the file a record goes to)."""
    return pc.utf8_slice_codeunits(day_str(days), 0, 7)


def bool_str(values: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.where(values, "true", "false"), pa.string(), mask=mask)


def money(cents: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Hundredths as a fixed two-decimal string (avoids float formatting like 1e+06)."""
    cents = cents.astype(np.int64)
    out = join(pa.array(cents // 100, pa.int64()).cast(pa.string()), ".", digits(cents % 100, 2))
    if mask is None:
        return out
    return pc.if_else(pa.array(mask), pa.scalar(None, pa.string()), out)


def strings_from_bytes(mat: np.ndarray) -> pa.Array:
    """Rows of an (n, w) uint8 ASCII matrix as an Arrow string array."""
    n, w = mat.shape
    offsets = pa.py_buffer((np.arange(n + 1, dtype=np.int32) * w).tobytes())
    return pa.StringArray.from_buffers(n, offsets, pa.py_buffer(np.ascontiguousarray(mat).tobytes()))


def days_of(date_iso: str) -> int:
    return int((np.datetime64(date_iso, "D") - EPOCH).astype(np.int64))


def uniform_days(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """One day uniformly in ``[lo, hi]`` per row (requires ``hi >= lo``)."""
    span = (hi - lo + 1).astype(np.float64)
    out: np.ndarray = (lo + np.floor(rng.random(len(lo)) * span)).astype(np.int64)
    return out
