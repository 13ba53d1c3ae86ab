"""Every row reason code, through the vectorised validator on in-memory tables."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.ingest.validate import Validated, duplicate_mask, parse_dates, parse_numbers, validate
from schemas.datasets import DATASETS
from tests.ingest_data import code, penalty_rows, resident_id

TODAY = dt.date(2026, 11, 2)


def _table(rows: list[dict[str, str]]) -> pa.Table:
    cols = list(rows[0])
    return pa.table({c: pa.array([r.get(c) or None for r in rows], pa.string()) for c in cols})


def _run(dataset: str, rows: list[dict[str, str]], **kw: object) -> Validated:
    return validate(_table(rows), DATASETS[dataset], province="42", today=TODAY, **kw)  # type: ignore[arg-type]


def _codes(v: Validated, row: int) -> set[tuple[str, str | None]]:
    return {(c.code, c.column) for c in v.checks if c.fails[row].as_py()}


def test_clean_rows_pass() -> None:
    v = _run("penalties", penalty_rows(5))
    assert v.rows_failed == 0 and v.checks == []
    assert v.typed["amount"].to_pylist() == [1000.5] * 5
    assert v.typed["withdrawn"].to_pylist() == [False] * 5
    assert v.typed["decided_on"].to_pylist() == [dt.date(2025, 3, 1)] * 5


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("uscc", "", "missing_required"),
        ("decided_on", "", "missing_required"),
        ("uscc", "91420102MA00000", "bad_uscc_format"),
        ("uscc", "9142010ZMA000001XX", "bad_uscc_format"),
        ("decided_on", "2025-13-01", "bad_date"),
        ("decided_on", "2025-02-29", "bad_date"),
        ("decided_on", "01/03/2025", "bad_date"),
        ("decided_on", "2026-11-03", "future_date"),
        ("domain", "FOOD", "bad_enum"),
        ("kind", "jail", "bad_enum"),
        ("withdrawn", "maybe", "bad_enum"),
        ("amount", "1,000", "bad_number"),
        ("amount", "-5", "bad_number"),
        ("amount", "nan", "bad_number"),
        ("amount", "1e400", "bad_number"),  # well-shaped but overflows to inf
    ],
)
def test_penalty_reason(column: str, value: str, expected: str) -> None:
    rows = penalty_rows(3)
    rows[1][column] = value
    v = _run("penalties", rows)
    assert _codes(v, 1) == {(expected, column)}
    assert v.failed.to_pylist() == [False, True, False]
    assert v.counts() == {expected: 1}


def test_checkdigit_and_legacy_allowlist() -> None:
    rows = penalty_rows(2)
    good = rows[1]["uscc"]
    bad = good[:17] + ("0" if good[17] != "0" else "1")
    rows[1]["uscc"] = bad
    assert _codes(_run("penalties", rows), 1) == {("bad_uscc_checkdigit", "uscc")}
    assert _run("penalties", rows, legacy_uscc=[bad]).rows_failed == 0
    legacy = "91350211M0000XUF46"  # a real pilot code that fails the check (domain.md)
    rows[1]["uscc"] = legacy
    assert _codes(_run("penalties", rows), 1) == {("bad_uscc_checkdigit", "uscc")}
    assert _run("penalties", rows, legacy_uscc=(legacy,)).rows_failed == 0


def test_today_is_not_future_and_date_variants() -> None:
    dates, bad = parse_dates(
        pa.array(["2026-11-02", "2026/01/31", "20240229", "2023-02-29", "2024-1-5", None])
    )
    assert dates.to_pylist() == [
        dt.date(2026, 11, 2),
        dt.date(2026, 1, 31),
        dt.date(2024, 2, 29),
        None,
        None,
        None,
    ]
    assert bad.to_pylist() == [False, False, False, True, True, False]
    rows = penalty_rows(3)
    rows[0]["decided_on"], rows[1]["decided_on"], rows[2]["decided_on"] = (
        "2026-11-02",
        "2026/11/01",
        "20261101",
    )
    assert _run("penalties", rows).rows_failed == 0


def test_booleans_accept_documented_spellings() -> None:
    rows = penalty_rows(8)
    for r, val in zip(rows, ["true", "FALSE", "1", "0", "yes", "No", "是", "否"], strict=True):
        r["withdrawn"] = val
    v = _run("penalties", rows)
    assert v.rows_failed == 0
    assert v.typed["withdrawn"].to_pylist() == [True, False, True, False, True, False, True, False]


def test_every_failing_check_is_reported_not_just_the_first() -> None:
    rows = penalty_rows(2)
    rows[0].update(uscc="X", decided_on="yesterday", domain="?", kind="?", amount="lots")
    assert {c for c, _ in _codes(_run("penalties", rows), 0)} == {
        "bad_uscc_format",
        "bad_date",
        "bad_enum",
        "bad_number",
    }


def test_duplicate_key_rejects_all_copies() -> None:
    rows = penalty_rows(5)
    rows[3]["decision_no"] = rows[1]["decision_no"]
    rows[4]["decision_no"] = rows[1]["decision_no"]
    v = _run("penalties", rows)
    assert v.failed.to_pylist() == [False, True, False, True, True]
    assert v.counts() == {"duplicate_key": 3}


def test_duplicate_composite_key() -> None:
    u = code(1)
    rows = [{"uscc": u, "year": "2024", "filed_on": ""}, {"uscc": u, "year": "2025", "filed_on": ""},
            {"uscc": u, "year": "2024", "filed_on": "2025-05-01"}]  # fmt: skip
    v = _run("annual_reports", rows)
    assert v.failed.to_pylist() == [True, False, True]
    assert duplicate_mask([pa.array(["a", None, None])]).to_pylist() == [False, False, False]


def test_annual_report_year_bounds() -> None:
    rows = [
        {"uscc": code(i), "year": y, "filed_on": ""} for i, y in enumerate(["2024", "1989", "20x4", "2101"])
    ]
    v = _run("annual_reports", rows)
    assert v.failed.to_pylist() == [False, True, True, True]
    assert v.counts() == {"bad_number": 3}
    assert v.typed["year"].to_pylist()[0] == 2024


def _entity(i: int, **kw: str) -> dict[str, str]:
    row = {
        "uscc": code(i),
        "name": f"企业{i}",
        "entity_type": "enterprise",
        "region_code": "420102",
        "industry_code": "C13",
        "established_on": "2010-01-01",
        "status": "active",
        "is_new_economy": "",
    }
    row.update(kw)
    return row


def test_entity_region_industry_and_type_rules() -> None:
    rows = [
        _entity(0),
        _entity(1, region_code="110105"),
        _entity(2, region_code="4201"),
        _entity(3, industry_code="Z99"),
        _entity(4, entity_type="individual"),  # code says enterprise (position 2 = 1)
        {**_entity(5, entity_type="individual"), "uscc": code(5, category="2")},
        {**_entity(6, entity_type="cooperative"), "uscc": code(6, category="3")},
    ]
    v = _run("entities", rows)
    assert _codes(v, 1) == {("region_outside_province", "region_code")}
    assert _codes(v, 2) == {("bad_format", "region_code")}
    assert _codes(v, 3) == {("bad_format", "industry_code")}
    assert _codes(v, 4) == {("entity_type_mismatch", "entity_type")}
    assert v.failed.to_pylist() == [False, True, True, True, True, False, False]


def test_personal_data_in_any_column() -> None:
    rows = penalty_rows(4)
    rows[1]["authority"] = f"经办人身份证 {resident_id()}"
    rows[2]["decision_no"] = resident_id("11010519491231002")
    v = _run("penalties", rows)
    assert _codes(v, 1) == {("personal_data", "authority")}
    assert _codes(v, 2) == {("personal_data", "decision_no")}
    assert v.failed.to_pylist() == [False, True, True, False]


def test_personal_data_in_an_ignored_column_is_reported_under_its_header() -> None:
    rows = penalty_rows(2)
    t = _table(rows).append_column("__extra__9", pa.array([None, resident_id()], pa.string()))
    v = validate(t, DATASETS["penalties"], province="42", today=TODAY, display_names={"__extra__9": "备注"})
    assert v.failed.to_pylist() == [False, True]
    assert [(c.code, c.column) for c in v.checks] == [("personal_data", "备注")]


def test_rows_failed_equals_union_of_checks() -> None:
    rows = penalty_rows(10)
    rows[2]["uscc"] = ""
    rows[2]["amount"] = "x"
    rows[5]["kind"] = "?"
    v = _run("penalties", rows)
    assert v.rows_failed == 2
    assert sum(v.counts().values()) == 3


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "长", "", None]), st.sampled_from(["1", "2", None])), max_size=40
    )
)
def test_duplicate_mask_matches_counting(rows: list[tuple[str | None, str | None]]) -> None:
    """Every copy of a repeated key fails; a key with a null part never does (one and two columns)."""
    first = [a for a, _ in rows]
    single = Counter(a for a in first if a is not None)
    assert duplicate_mask([pa.array(first, pa.string())]).to_pylist() == [
        a is not None and single[a] > 1 for a in first
    ]
    pairs = Counter(r for r in rows if None not in r)
    got = duplicate_mask([pa.array(first, pa.string()), pa.array([b for _, b in rows], pa.string())])
    assert got.to_pylist() == [None not in r and pairs[r] > 1 for r in rows]


@pytest.mark.parametrize(
    "value", ["1e400", "inf", "-inf", "NaN", "Infinity", "nan(1)", "1.", ".5", "+3", "1e5", "7"]
)
def test_number_fast_path_agrees_with_the_shape_rule(value: str) -> None:
    """A column of one odd value (fast cast path) and the same value beside a bad one (regex
    path) get the same verdict."""
    spec = DATASETS["penalties"].column("amount")
    alone = parse_numbers(pa.array([value, "2"]), spec)
    mixed = parse_numbers(pa.array([value, "2", "x"]), spec)
    assert alone[1].to_pylist() == mixed[1].to_pylist()[:2]
    assert alone[0].to_pylist() == mixed[0].to_pylist()[:2]


def _inspector(**over: str) -> dict[str, str]:
    row = {
        "inspector_id": "I-1",
        "name": "检查员甲",
        "region_code": "420100",
        "fields": "general;food",
        "active_from": "2026-01-01",
        "active_to": "",
        "conflicts": f"{code(1)};{code(2)}",
    }
    return {**row, **over}


def test_inspector_roster_rows() -> None:
    bad_check = code(3)[:-1] + ("0" if code(3)[-1] != "0" else "1")
    rows = [
        _inspector(),
        _inspector(inspector_id="I-2", fields="general;astrology"),
        _inspector(inspector_id="I-3", conflicts=f"{code(1)};not-a-code"),
        _inspector(inspector_id="I-4", conflicts=bad_check),
        _inspector(inspector_id="I-5", active_from="2027-03-01", active_to="2030-12-31"),  # future: fine
        _inspector(inspector_id="I-6", name=resident_id()),
        _inspector(inspector_id="I-7", region_code="430100"),
        _inspector(inspector_id="I-8", fields="food;;general"),
    ]
    v = _run("inspectors", rows)
    assert _codes(v, 0) == set() and _codes(v, 4) == set()
    assert _codes(v, 1) == {("bad_enum", "fields")}
    assert _codes(v, 2) == {("bad_uscc_format", "conflicts")}
    assert _codes(v, 3) == {("bad_uscc_checkdigit", "conflicts")}
    assert ("personal_data", "name") in _codes(v, 5)
    assert _codes(v, 6) == {("region_outside_province", "region_code")}
    assert _codes(v, 7) == {("bad_enum", "fields")}
    assert v.rows_failed == 6
