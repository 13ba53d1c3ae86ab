"""Unified Social Credit Code (统一社会信用代码, GB 32100-2015) and its organisation code (GB 11714).

Scalar helpers for generators and lookups, and a vectorised checker over Arrow arrays for
ingestion (17 slice/lookup/multiply passes, no per-row Python).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
FORMAT_RE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$")
FORMAT_PATTERN = FORMAT_RE.pattern

# Position 2 (category) for registering department 9 (market regulation).
CATEGORY_OF_ENTITY_TYPE = {"enterprise": "1", "individual": "2", "cooperative": "3"}
ENTITY_TYPE_OF_CATEGORY = {v: k for k, v in CATEGORY_OF_ENTITY_TYPE.items()}


def check_char(first17: str) -> str:
    """The 18th character for the first 17."""
    total = sum(ALPHABET.index(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    value = 31 - total % 31
    return ALPHABET[0 if value == 31 else value]


def org_check_char(first8: str) -> str:
    """GB 11714 check character of an organisation code body (8 chars)."""

    def val(c: str) -> int:
        return int(c) if c.isdigit() else ord(c) - ord("A") + 10

    c = 11 - sum(val(ch) * w for ch, w in zip(first8, ORG_WEIGHTS, strict=True)) % 11
    return "X" if c == 10 else "0" if c == 11 else str(c)


def is_well_formed(code: str) -> bool:
    return bool(FORMAT_RE.match(code))


def is_valid(code: str) -> bool:
    """Well-formed and the GB 32100 check character matches."""
    return is_well_formed(code) and check_char(code[:17]) == code[17]


def make(region_code: str, org_body: str, *, dept: str = "9", category: str = "1") -> str:
    """Build a valid code from a 6-digit region and an 8-character organisation body."""
    org = org_body + org_check_char(org_body)
    first17 = dept + category + region_code + org
    return first17 + check_char(first17)


def province_of(code: str) -> str:
    return code[2:4]


def check_array(codes: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    """Vectorised check: ``(well_formed, check_ok)`` boolean arrays (null input → False, False)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = codes.combine_chunks() if isinstance(codes, pa.ChunkedArray) else codes
    arr = arr.cast(pa.string())
    well_formed = pc.fill_null(pc.match_substring_regex(arr, FORMAT_PATTERN), False)
    # Replace malformed values by a harmless placeholder so the arithmetic never sees nulls.
    safe = pc.if_else(well_formed, arr, pa.scalar("0" * 18))
    alphabet = pa.array(list(ALPHABET))
    total = None
    for pos, weight in enumerate(WEIGHTS):
        char = pc.utf8_slice_codeunits(safe, pos, pos + 1)
        term = pc.multiply(pc.index_in(char, value_set=alphabet).cast(pa.int32()), weight)
        total = term if total is None else pc.add(total, term)
    expected_idx = pc.subtract(31, _mod(total, 31))
    expected_idx = pc.if_else(pc.equal(expected_idx, 31), 0, expected_idx)
    actual_idx = pc.index_in(pc.utf8_slice_codeunits(safe, 17, 18), value_set=alphabet).cast(pa.int32())
    check_ok = pc.and_(well_formed, pc.fill_null(pc.equal(expected_idx, actual_idx), False))
    return well_formed, check_ok


def _mod(values: pa.Array, m: int) -> pa.Array:
    import pyarrow.compute as pc

    return pc.subtract(values, pc.multiply(pc.divide(values, m), m))  # integer division on ints
