"""PRC resident ID numbers (GB 11643-1999) hiding in any column: found vectorised and masked.

A candidate is 18 characters: a 6-digit area code, a plausible birth date ``YYYYMMDD`` (1900–2099),
a 3-digit sequence and an ISO 7064 MOD 11-2 check character. Valid USCCs that happen to share the
shape are not personal data and are never flagged (docs/adr/0012).
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from functions import uscc
from functions.ingest.fastcodes import resident_id_check, uscc_check

ID_PATTERN = r"[1-9][0-9]{5}(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]"
# Not glued to other code characters: a longer digit run is not an ID.
_BOUNDED = rf"(?:^|[^0-9A-Za-z])({ID_PATTERN})(?:$|[^0-9A-Za-z])"
_EXTRACT = rf"(?:^|[^0-9A-Za-z])(?P<id>{ID_PATTERN})(?:$|[^0-9A-Za-z])"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
MASK = "<resident-id masked>"
_RE = re.compile(_BOUNDED)


def id_check_char(first17: str) -> str:
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def is_resident_id(value: str) -> bool:
    """Scalar twin of ``find``: a shaped, checksummed ID that is not a valid USCC."""
    for m in _RE.finditer(value):
        code = m.group(1).upper()
        if id_check_char(code[:17]) == code[17] and not uscc.is_valid(code):
            return True
    return False


def find(values: pa.Array | pa.ChunkedArray, *, skip: pa.Array | None = None) -> pa.Array:
    """Boolean array: the value contains a resident ID (null → False); ``skip`` marks values
    known not to be IDs (valid USCCs).

    Cheap prefilters keep the cost near zero for ordinary columns: a value shorter than 18
    bytes (then, for mostly long values, 18 characters) cannot hold an ID, and an ID's first 17
    characters are a run of 17 ASCII digits. Only values passing all meet the RE2 shape and
    the checksum."""
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if not pa.types.is_string(arr.type):
        arr = arr.cast(pa.string())
    n = len(arr)
    flags = np.zeros(n, dtype=bool)
    if n == 0 or arr.null_count == n:
        return pa.array(flags)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + n + 1]
    cand = np.diff(offsets) >= 18
    if arr.null_count:
        cand &= np.asarray(pc.is_valid(arr).to_numpy(zero_copy_only=False))
    if skip is not None:
        cand &= ~np.asarray(skip.to_numpy(zero_copy_only=False), dtype=bool)
    if not cand.any():
        return pa.array(flags)
    if cand.sum() * 4 > n:  # mostly long (multi-byte text?): characters, not bytes, decide
        chars = pc.utf8_length(arr).to_numpy(zero_copy_only=False)
        cand &= np.asarray(chars) >= 18
        if not cand.any():
            return pa.array(flags)
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    cand &= _rows_with_digit_run(data, offsets - offsets[0], 17)
    cand_idx = pa.array(np.flatnonzero(cand))
    if len(cand_idx):
        cand_values = pc.take(arr, cand_idx)
        hit_idx = pc.indices_nonzero(pc.fill_null(pc.match_substring_regex(cand_values, _BOUNDED), False))
        if len(hit_idx):
            hits = pc.take(cand_values, hit_idx)
            flagged = _first_match_is_id(hits)
            # extract_regex sees the first shape only: a value with several shapes whose first
            # is not an ID gets the scalar check (rare: only values holding ≥2 ID shapes).
            several = pc.greater(pc.count_substring_regex(hits, ID_PATTERN), 1).to_numpy(zero_copy_only=False)
            for i in np.flatnonzero(~flagged & np.asarray(several)):
                flagged[i] = is_resident_id(hits[int(i)].as_py())
            flags[cand_idx.to_numpy()[hit_idx.to_numpy()[flagged]]] = True
    return pa.array(flags)


def _first_match_is_id(hits: pa.Array) -> np.ndarray:
    ids = pc.utf8_upper(pc.struct_field(pc.extract_regex(hits, _EXTRACT), "id"))
    fast = resident_id_check(ids)
    checksum = fast if fast is not None else _checksum_ok(ids)
    flagged = pc.and_(checksum, pc.invert(uscc_check(ids)[1]))
    return np.array(flagged.to_numpy(zero_copy_only=False), dtype=bool)


def _rows_with_digit_run(data: np.ndarray, offsets: np.ndarray, run: int) -> np.ndarray:
    """Rows (by ``offsets`` into ``data``) where a run of ``run`` ASCII digits starts; a run
    crossing into the next value marks the row too (a superset: the exact check follows)."""
    n = len(offsets) - 1
    out = np.zeros(n, dtype=bool)
    if len(data) < run:
        return out
    have = (data - np.uint8(ord("0"))) < 10  # uint8 wrap-around: one compare per byte
    width = 1  # have[i]: data[i : i + width] are all digits
    while width < run:
        step = min(width, run - width)
        have = have[:-step] & have[step:]
        width += step
    starts = np.flatnonzero(have)
    if len(starts):
        out[np.unique(np.searchsorted(offsets, starts, side="right") - 1)] = True
    return out


def _checksum_ok(ids: pa.Array) -> pa.Array:
    total = None
    for pos, weight in enumerate(_WEIGHTS):
        term = pc.multiply(pc.cast(pc.utf8_slice_codeunits(ids, pos, pos + 1), pa.int32()), weight)
        total = term if total is None else pc.add(total, term)
    assert total is not None
    remainder = pc.subtract(total, pc.multiply(pc.divide(total, 11), 11))
    expected = pc.take(pa.array(list(_CHECK)), remainder)
    return pc.fill_null(pc.equal(expected, pc.utf8_slice_codeunits(ids, 17, 18)), False)


def mask_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Replace every ID-shaped substring (checksummed or not) by ``MASK``: quarantine and reports
    mask conservatively, so a near-miss typo of an ID is not leaked either."""
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    arr = arr.cast(pa.string())
    n = len(arr)
    if n == arr.null_count:
        return arr
    # An ID shape starts with 17 digits: only values with such a run meet the regex.
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + n + 1]
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    cand = _rows_with_digit_run(data, offsets - offsets[0], 17)
    if not cand.any():
        return arr
    if cand.all():
        return pc.replace_substring_regex(arr, ID_PATTERN, MASK)
    fixed = pc.replace_substring_regex(pc.take(arr, pa.array(np.flatnonzero(cand))), ID_PATTERN, MASK)
    return pc.replace_with_mask(arr, pa.array(cand), fixed)


_LOOSE = re.compile(ID_PATTERN)


def mask_text(text: str) -> str:
    """Scalar masking for messages (e.g. a parser error quoting a line)."""
    return _LOOSE.sub(MASK, text)
