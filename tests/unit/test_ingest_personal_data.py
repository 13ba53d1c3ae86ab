"""Resident-ID detection: shape + plausible birth date + MOD 11-2, never a valid USCC."""

from __future__ import annotations

import re

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from functions import uscc
from functions.ingest import personal_data as pd
from tests.ingest_data import resident_id


def test_check_char_matches_the_standard_example() -> None:
    # GB 11643-1999 worked example: 11010519491231002X
    assert pd.id_check_char("11010519491231002") == "X"
    assert pd.is_resident_id("11010519491231002X")
    assert pd.is_resident_id("11010519491231002x")


def test_vectorised_agrees_with_scalar() -> None:
    rid = resident_id()
    wrong_check = rid[:17] + ("0" if rid[17] != "0" else "1")
    bad_date = "420102" + "19901332" + "123" + "4"
    values = [
        rid,
        f"联系人{rid}，电话",
        wrong_check,
        bad_date,
        "1" + rid,  # 19 digits: not an ID
        "91110108795101314G",
        None,
        "short",
    ]
    got = pd.find(pa.array(values)).to_pylist()
    assert got == [True, True, False, False, False, False, False, False]
    assert got == [v is not None and pd.is_resident_id(v) for v in values]


def test_valid_usccs_that_look_like_ids_are_not_flagged() -> None:
    # All-digit USCCs with a plausible date in positions 7-14 and a passing MOD 11-2 check.
    found = []
    for i in range(200000):
        body = f"{i:08d}"
        region = "420119"  # positions 7-8 = "19", then the org code supplies YYMMDD…
        if not (body[2:4] in {f"{m:02d}" for m in range(1, 13)} and "01" <= body[4:6] <= "28"):
            continue
        c = uscc.make(region, body)
        if c.isdigit() and pd.id_check_char(c[:17]) == c[17] and re.fullmatch(pd.ID_PATTERN, c):
            found.append(c)
        if len(found) >= 3:
            break
    assert found, "expected some USCCs shaped like resident IDs"
    assert pd.find(pa.array(found)).to_pylist() == [False] * len(found)
    assert not any(pd.is_resident_id(c) for c in found)


def test_masking() -> None:
    rid = resident_id()
    masked = pd.mask_array(pa.array([f"id {rid} x", None, "ok"])).to_pylist()
    assert masked == [f"id {pd.MASK} x", None, "ok"]
    assert rid not in pd.mask_text(f"row 3: {rid},a,b")


_PIECES = ["", " ", "联系人", "电话", ",", "x", "7", "0000", "12345678", "19900307", "123X", None]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from([*_PIECES, "ID", "IDX"]), max_size=4), min_size=1, max_size=30),
    st.integers(0, 3),
)
def test_prefilters_never_hide_an_id(parts: list[list[str | None]], cut: int) -> None:
    """The byte-length and digit-run prefilters only skip values the exact check would clear,
    whatever the neighbours, nulls, offsets (slices) or chunking."""
    rid = resident_id()
    values: list[str | None] = []
    for p in parts:
        if None in p:
            values.append(None)
            continue
        values.append("".join(rid if s == "ID" else rid[:17] + "X" if s == "IDX" else str(s) for s in p))
    arr = pa.array(values, pa.string()).slice(min(cut, len(values) - 1))
    expected = [v is not None and pd.is_resident_id(v) for v in arr.to_pylist()]
    assert pd.find(arr).to_pylist() == expected
    chunked = pa.chunked_array([arr.slice(0, len(arr) // 2), arr.slice(len(arr) // 2)], pa.string())
    assert pd.find(chunked).to_pylist() == expected


def test_digit_run_across_values_is_only_a_candidate() -> None:
    rid = resident_id()
    values = [rid[:9], rid[9:], f"甲{rid}乙", "1" * 17, "2" * 40, f"{rid[:17]}0 联系人 {rid}"]
    assert pd.find(pa.array(values)).to_pylist() == [False, False, True, False, False, True]
