"""Fault injection: bad rows with a known reason, so tests can check ingestion rejects exactly them.

Runs as a pass over each finished file (seeded from the seed and the file's path), so it is
independent of chunking. Each faulty row carries exactly one defect; ``duplicate_key`` inserts
a copy of a valid row right after it and counts both copies.
"""

from __future__ import annotations

import zlib

import numpy as np
import pyarrow as pa

from functions import uscc as U
from functions.generate.arrowutil import strings_from_bytes
from functions.uscc import ALPHABET
from schemas.ingest import ROW_REASONS

# Every row-level reason ingestion knows, except bad_format (no generator fault maps to it yet).
REASONS = tuple(r for r in ROW_REASONS if r != "bad_format")

# Per dataset: the column each reason corrupts (a reason missing here does not apply).
_TARGETS: dict[str, dict[str, str]] = {
    "entities": {
        "missing_required": "name", "bad_date": "established_on", "future_date": "established_on",
        "bad_enum": "status", "bad_number": "registered_capital", "region_outside_province": "region_code",
        "entity_type_mismatch": "entity_type", "personal_data": "address",
    },
    "registration_changes": {
        "missing_required": "changed_on", "bad_date": "changed_on", "future_date": "changed_on",
        "bad_enum": "item", "personal_data": "change_id",
    },
    "annual_reports": {
        "missing_required": "year", "bad_date": "filed_on", "future_date": "filed_on", "bad_number": "year",
    },
    "penalties": {
        "missing_required": "authority", "bad_date": "decided_on", "future_date": "decided_on",
        "bad_enum": "kind", "bad_number": "amount", "personal_data": "authority",
    },
    "abnormal_list": {
        "missing_required": "listed_on", "bad_date": "listed_on", "future_date": "listed_on",
        "bad_enum": "reason", "personal_data": "record_id",
    },
    "serious_dishonesty_list": {
        "missing_required": "reason", "bad_date": "listed_on", "future_date": "listed_on",
        "personal_data": "reason",
    },
    "inspections": {
        "missing_required": "result", "bad_date": "inspected_on", "future_date": "inspected_on",
        "bad_enum": "result", "personal_data": "inspection_id",
    },
    "complaints": {
        "missing_required": "kind", "bad_date": "received_on", "future_date": "received_on",
        "bad_enum": "kind", "personal_data": "complaint_id",
    },
    "relationships": {
        "missing_required": "relation", "bad_date": "since", "future_date": "since",
        "bad_enum": "relation", "personal_data": "party_id",
    },
    "other_dishonesty": {
        "missing_required": "source", "bad_date": "recorded_on", "future_date": "recorded_on",
        "bad_enum": "category", "personal_data": "source",
    },
    "licences": {
        "missing_required": "licence_type", "bad_date": "valid_from", "future_date": "valid_from",
        "bad_enum": "licence_type", "personal_data": "licence_no",
    },
    "equipment": {
        "missing_required": "kind", "bad_date": "registered_on", "future_date": "registered_on",
        "bad_enum": "status", "personal_data": "equipment_id",
    },
    "product_checks": {
        "missing_required": "product", "bad_date": "checked_on", "future_date": "checked_on",
        "bad_enum": "result", "personal_data": "product",
    },
}  # fmt: skip
_KEY_DUP = "duplicate_key"
_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)


def reasons_for(dataset: str) -> tuple[str, ...]:
    """Reasons applicable to ``dataset``, in the canonical order."""
    t = _TARGETS[dataset]
    return tuple(r for r in REASONS if r in t or r in ("bad_uscc_format", "bad_uscc_checkdigit", _KEY_DUP))


def resident_ids(rng: np.random.Generator, county_codes: list[str], n: int) -> list[str]:
    """18-character resident-ID-shaped values with a valid ISO 7064 MOD 11-2 check character."""
    county = np.array([list(c.encode()) for c in county_codes], dtype=np.uint8)[
        rng.integers(0, len(county_codes), n)
    ]
    birth = np.datetime64("1960-01-01") + rng.integers(0, 40 * 365, n).astype("timedelta64[D]")
    ymd = np.array([list(str(b).replace("-", "").encode()) for b in birth], dtype=np.uint8).reshape(n, 8)
    seq = rng.integers(0, 10, size=(n, 3), dtype=np.uint8) + ord("0")
    mat = np.concatenate([county.reshape(n, 6), ymd, seq, np.zeros((n, 1), np.uint8)], axis=1)
    todo = np.ones(n, dtype=bool)
    while todo.any():
        s = ((mat[:, :17].astype(np.int64) - ord("0")) * _ID_WEIGHTS).sum(axis=1)
        c = (12 - s % 11) % 11
        mat[:, 17] = np.where(c == 10, ord("X"), ord("0") + c)
        # One in 31 such values is also a valid USCC, which ingestion rightly does not flag.
        todo = np.asarray(U.check_array(strings_from_bytes(mat))[1].to_numpy(zero_copy_only=False))
        mat[todo, 16] = (mat[todo, 16] - ord("0") + 1) % 10 + ord("0")
    out: list[str] = strings_from_bytes(mat).to_pylist()
    return out


def _looks_like_resident_id(v: str) -> bool:
    if len(v) != 18 or not v[:17].isdigit():
        return False
    c = (12 - int(sum(int(a) * w for a, w in zip(v[:17], _ID_WEIGHTS, strict=True))) % 11) % 11
    return v[17] == ("X" if c == 10 else str(c))


def _wrong_check(code: str) -> str:
    """The code with another check character, never one that looks like a resident ID."""
    i = ALPHABET.index(code[17])
    for step in range(1, len(ALPHABET)):
        candidate = code[:17] + ALPHABET[(i + step) % len(ALPHABET)]
        if not _looks_like_resident_id(candidate):
            return candidate
    raise AssertionError(code)


def _bad_value(
    reason: str, column: str, value: str | None, other_province_region: str, types: tuple[str, ...]
) -> str | None:
    if reason == "missing_required":
        return None
    if reason == "bad_date":
        return "2025-02-30"
    if reason == "future_date":
        return "2099-06-15"
    if reason == "bad_enum":
        return "unknown_value"
    if reason == "bad_number":
        # "12.5万元" is a valid capital since the mapping profiles read units (ADR 0080)
        return "2O24" if column == "year" else "十二点五万"
    if reason == "region_outside_province":
        return other_province_region
    if reason == "entity_type_mismatch":
        return next(t for t in types if t != value)
    raise AssertionError(reason)


def inject(
    table: pa.Table,
    dataset: str,
    rate: float,
    seed: int,
    rel_path: str,
    county_codes: list[str],
    province: str,
) -> tuple[pa.Table, dict[str, int]]:
    """Corrupt about ``rate`` of the rows of one file; return the new table and counts by reason."""
    n = table.num_rows
    budget = int(rate * n)
    if budget == 0:
        return table, {}
    rng = np.random.default_rng([seed, zlib.crc32(rel_path.encode()), 7])
    reasons = list(reasons_for(dataset))
    order = [reasons[i] for i in rng.permutation(len(reasons))]
    picked = rng.choice(n, size=budget, replace=False)
    cols = {c: table[c].to_pylist() for c in table.column_names}
    targets = _TARGETS[dataset]
    other_region = "110105" if province != "11" else "120101"
    counts: dict[str, int] = {}
    duplicates: list[int] = []
    ids = iter(resident_ids(rng, county_codes, budget))
    used = 0
    for k, row in enumerate(int(r) for r in picked):
        reason = order[k % len(order)]
        cost = 2 if reason == _KEY_DUP else 1
        if used + cost > budget:
            reason, cost = "bad_uscc_format", 1
            if used + cost > budget:
                break
        used += cost
        counts[reason] = counts.get(reason, 0) + cost
        if reason == _KEY_DUP:
            duplicates.append(row)
        elif reason == "bad_uscc_format":
            cols["uscc"][row] = cols["uscc"][row][:17]
        elif reason == "bad_uscc_checkdigit":
            code = cols["uscc"][row]
            cols["uscc"][row] = _wrong_check(code)
        elif reason == "personal_data":
            cols[targets[reason]][row] = next(ids)
        else:
            col = targets[reason]
            cols[col][row] = _bad_value(
                reason, col, cols[col][row], other_region, ("enterprise", "individual", "cooperative")
            )
    out = pa.table({c: pa.array(v, pa.string()) for c, v in cols.items()})
    if duplicates:
        # Insert each copy right after its original (a provider's double export).
        index = np.arange(n)
        extra = np.array(sorted(duplicates))
        order_idx = np.sort(np.concatenate([index, extra]), kind="stable")
        out = out.take(pa.array(order_idx))
    return out, dict(sorted(counts.items()))
