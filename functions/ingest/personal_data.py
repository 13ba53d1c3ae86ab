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
    """Boolean array: the value contains a resident ID (null → False). Only values of ≥18
    characters are examined, so short enum/date columns cost one length pass; ``skip`` marks
    values known not to be IDs (valid USCCs)."""
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    arr = arr.cast(pa.string())
    flags = np.zeros(len(arr), dtype=bool)
    long_enough = pc.fill_null(pc.greater_equal(pc.utf8_length(arr), 18), False)
    if skip is not None:  # e.g. values already known to be valid USCCs
        long_enough = pc.and_(long_enough, pc.invert(skip))
    cand_idx = pc.indices_nonzero(long_enough)
    if len(cand_idx):
        cand = pc.take(arr, cand_idx)
        hit_idx = pc.indices_nonzero(pc.fill_null(pc.match_substring_regex(cand, _BOUNDED), False))
        if len(hit_idx):
            ids = pc.utf8_upper(pc.struct_field(pc.extract_regex(pc.take(cand, hit_idx), _EXTRACT), "id"))
            fast = resident_id_check(ids)
            checksum = fast if fast is not None else _checksum_ok(ids)
            flagged = pc.and_(checksum, pc.invert(uscc_check(ids)[1]))
            positions = pc.take(cand_idx, pc.filter(hit_idx, flagged))
            flags[positions.to_numpy(zero_copy_only=False)] = True
    return pa.array(flags)


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
    return pc.replace_substring_regex(arr.cast(pa.string()), ID_PATTERN, MASK)


_LOOSE = re.compile(ID_PATTERN)


def mask_text(text: str) -> str:
    """Scalar masking for messages (e.g. a parser error quoting a line)."""
    return _LOOSE.sub(MASK, text)
