"""Quarantine JSON Lines: the exact bytes of ``json.dumps`` per rejected row."""

from __future__ import annotations

import json

import pyarrow as pa

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
