"""Quarantine JSON Lines: the exact bytes of ``json.dumps`` per rejected row."""

from __future__ import annotations

import json

import pyarrow as pa

from functions.ingest.personal_data import id_check_char, mask_text
from functions.ingest.quarantine import quarantine_jsonl
from functions.ingest.validate import Check, Validated


def test_quarantine_lines_are_exactly_json_dumps() -> None:
    """The piecewise JSON encoder writes what ``json.dumps(row, ensure_ascii=False)`` would."""
    raw = pa.table(
        {
            "decision_no": ['a"b\\c', None, "换行\n\t\u2028", "ok"],
            "__extra__1": ["x", "", "</script>", None],
        }
    )
    fails = pa.array([True, True, True, False])
    v = Validated({}, [Check("bad_enum", "decision_no", fails, 'must be "x"\\y')], fails)
    lines = pa.array([2, 3, 4, 5], pa.int64())
    names = {"decision_no": "处罚决定书文号", "__extra__1": 'odd "header"'}
    got = quarantine_jsonl(raw, v, lines, names).decode().split("\n")[:-1]  # not splitlines: U+2028
    for i, line in enumerate(got):
        obj = {
            "line": i + 2,
            "values": {names[c]: raw.column(c)[i].as_py() for c in raw.column_names},
            "reasons": [{"code": "bad_enum", "column": "decision_no", "message": 'must be "x"\\y'}],
        }
        assert line == json.dumps(obj, ensure_ascii=False)
    assert len(got) == 3


def test_quarantine_lines_with_several_checks_masks_and_nulls() -> None:
    """Rows failing one check, the other or both list exactly their own reasons, in check order;
    resident IDs are masked wherever they sit in a value; an all-null column stays null."""
    pid = "420102199003071234"
    pid = pid[:17] + id_check_char(pid[:17])
    raw = pa.table(
        {
            "uscc": ["A", f"联系人{pid}", "C", "D", None],
            "amount": pa.array([None] * 5, pa.string()),
            "note": ["x", "y", f"{pid} and 12345678901234567", "z", "w"],
        }
    )
    first = pa.array([True, False, True, False, False])
    second = pa.array([False, True, True, False, True])
    failed = pa.array([True, True, True, False, True])
    checks = [
        Check("bad_uscc_format", "uscc", first, "uscc is not a code"),
        Check("personal_data", "note", second, "a resident ID"),
    ]
    v = Validated({}, checks, failed)
    lines = pa.array([2, 3, 4, 5, 6], pa.int64())
    got = quarantine_jsonl(raw, v, lines, {"uscc": "统一社会信用代码"}).decode().split("\n")
    assert got[-1] == ""
    want = []
    for i in (0, 1, 2, 4):
        reasons = [
            {"code": c.code, "column": c.column, "message": c.message} for c in checks if c.fails[i].as_py()
        ]
        values = {
            "统一社会信用代码": raw.column("uscc")[i].as_py(),
            "amount": None,
            "note": raw.column("note")[i].as_py(),
        }
        masked = {k: x if x is None else mask_text(x) for k, x in values.items()}
        want.append(json.dumps({"line": i + 2, "values": masked, "reasons": reasons}, ensure_ascii=False))
    assert got[:-1] == want
    assert pid not in "".join(got) and "<resident-id masked> and 12345678901234567" in got[2]
    none = Validated({}, checks, pa.array([False] * 5))
    assert quarantine_jsonl(raw, none, lines, {}) == b""
