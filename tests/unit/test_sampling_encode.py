"""Column-wise JSON of targets is byte-for-byte ``json.dumps`` (so stored plans do not depend on
which path wrote them), and the vectorised draw is exactly the reference loop."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.sampling import encode
from functions.sampling.draw import _SPAN, draw, floyd_positions, floyd_sample, stream
from functions.sampling.frame import json_plain_columns, string_array

COLUMNS = ["uscc", "name"]
TRICKY = [
    'a"b',
    "back\\slash",
    "tab\there",
    "nul\x00",
    "\x01\x1f\x7f",
    "line\u2028sep",
    "湖北省武汉",
    "😀",
    "",
]


def _dumps(rows: list[dict[str, Any]]) -> bytes:
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _table(uscc: list[str], name: list[str | None]) -> pa.Table:
    names = pa.array(name, type=pa.string())  # nulls included
    return pa.Table.from_arrays([string_array(uscc), names], names=COLUMNS)


def _rows(table: pa.Table, inspectors: list[list[str]] | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = table.to_pylist()
    for i, r in enumerate(rows):
        r["inspectors"] = inspectors[i] if inspectors is not None else []
    return rows


@pytest.mark.parametrize("with_inspectors", [False, True])
def test_objects_are_json_dumps_byte_for_byte(with_inspectors: bool) -> None:
    names: list[str | None] = [*TRICKY, None]
    table = _table([f"code{i}" for i in range(len(names))], names)
    staffing = [[f"i-{k}", 'q"x'] for k in range(len(names))] if with_inspectors else None
    extra: dict[str, Any] = {"inspectors": encode.inspector_lists(staffing) if staffing else "[]"}
    objects = encode.object_strings(table, COLUMNS, extra, plain=json_plain_columns(table))
    rows = _rows(table, staffing)
    assert encode.array_bytes(objects) == _dumps(rows)
    assert encode.array_bytes(objects, 2, 5) == _dumps(rows[2:5])
    assert encode.array_bytes(objects, 5, 5) == b"[]"
    assert encode.array_bytes(objects, 3, 10**6) == _dumps(rows[3:])


def test_plain_columns_are_only_those_without_escapes_or_nulls() -> None:
    table = _table(["a", "b", "c"], ["plain", "湖北", None])
    assert json_plain_columns(table) == {"uscc"}
    assert json_plain_columns(_table(["a"], ["x\\y"])) == {"uscc"}
    assert json_plain_columns(_table(["a\n"], ["湖北"])) == {"name"}


@pytest.mark.parametrize("text", [*TRICKY, "a\x1fb", "~\x7f€", "\x20 space"])
def test_plain_check_scans_only_the_values_of_its_slice(text: str) -> None:
    """Bytes outside a sliced chunk's values (before or after) do not count; any in them do."""
    unsafe = any(ch in text for ch in '"\\') or any(ord(ch) < 0x20 for ch in text)
    around = pa.chunked_array([string_array(['"', "湖北", text, "x", "\n"]).slice(1, 3), string_array([])])
    table = pa.table({"uscc": around, "name": pa.chunked_array([string_array(["1", "2", "3"])])})
    assert json_plain_columns(table) == ({"name"} if unsafe else {"uscc", "name"})


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=12), min_size=1, max_size=20))
def test_any_text_encodes_like_json_dumps(texts: list[str]) -> None:
    table = _table([str(i) for i in range(len(texts))], list(texts))
    plain = json_plain_columns(table)
    objects = encode.object_strings(table, COLUMNS, {"inspectors": "[]"}, plain=plain)
    assert encode.array_bytes(objects) == _dumps(_rows(table, None))


def test_empty_table() -> None:
    objects = encode.object_strings(_table([], []), COLUMNS, {"inspectors": "[]"})
    assert encode.array_bytes(objects) == b"[]"


@settings(max_examples=150, deadline=None)
@given(st.text(min_size=1, max_size=20), st.integers(1, 3000), st.data())
def test_vectorised_floyd_is_the_reference_loop(seed: str, population: int, data: Any) -> None:
    k = data.draw(st.integers(0, population))
    expected = floyd_sample(stream(seed, "C"), population, k)
    assert floyd_positions(seed, "C", population, k).tolist() == expected


@pytest.mark.parametrize(("population", "k"), [(1, 1), (2, 2), (50_000, 50_000), (200_000, 60_000), (7, 0)])
def test_vectorised_floyd_edges(population: int, k: int) -> None:
    for seed in ("a", "b", "bench-1"):
        expected = floyd_sample(stream(seed, "D"), population, k)
        assert floyd_positions(seed, "D", population, k).tolist() == expected


def test_huge_populations_use_the_reference_loop() -> None:
    assert floyd_positions("golden", "x", 10**12, 3).tolist() == [381223265036, 418650527129, 849015979358]
    assert floyd_positions("g", "x", _SPAN + 5, 2).tolist() == floyd_sample(stream("g", "x"), _SPAN + 5, 2)


def test_draw_still_returns_plain_lists() -> None:
    out = draw("golden", {"A": 100, "B": 10, "C": 0, "D": 5}, {"A": 0.05, "B": 0.3, "D": 1})
    assert out["A"] == [14, 58, 67, 87, 94] and all(type(v) is int for v in out["A"])


@pytest.mark.parametrize("per_target", [1, 2, 3])
def test_inspector_parts_are_inspector_lists(per_target: int) -> None:
    """The column-wise lists (API path) are the per-target lists' text, escapes included."""
    ids = sorted(["a", 'q"uote', "检查员42", "back\\slash", "z"])
    matrix = np.array([[(k * 3 + j) % len(ids) for j in range(per_target)] for k in range(7)])
    matrix.sort(axis=1)
    lists = [[ids[k] for k in row] for row in matrix.tolist()]
    got = _joined(encode.inspector_parts(ids, matrix)).to_pylist()
    assert got == encode.inspector_lists(lists).to_pylist()
    assert [json.loads(g) for g in got] == lists
    assert _joined(encode.inspector_parts(ids, np.zeros((0, 2), dtype=np.int64))).to_pylist() == []


def _joined(parts: list[Any]) -> pa.Array:
    rows = next((len(p.indices) for p in parts if isinstance(p, encode.Taken)), 0)
    return encode.join_parts(parts, rows)


def test_inspector_parts_join_into_the_object_as_the_joined_lists_do() -> None:
    """The inspectors' pieces joined in the object's own pass (ADR 0163) give its bytes."""
    ids = sorted(["a", 'q"uote', "检查员42", "z"])
    matrix = np.array([[k % 4, (k + 1) % 4] for k in range(6)])
    matrix.sort(axis=1)
    table = _table([f"U{k}" for k in range(6)], [f"名{k}" for k in range(6)])
    whole = encode.object_strings(
        table, COLUMNS, {"inspectors": _joined(encode.inspector_parts(ids, matrix))}
    )
    spliced = encode.object_strings(table, COLUMNS, {"inspectors": encode.inspector_parts(ids, matrix)})
    assert spliced.to_pylist() == whole.to_pylist()
    rows = json.loads(encode.array_bytes(spliced))
    assert [r["inspectors"] for r in rows] == [[ids[k] for k in row] for row in matrix.tolist()]


def test_blocks_give_the_bytes_of_the_arrow_join() -> None:
    """Runs of literals and fixed-width values laid out by numpy (ADR 0164) join to what Arrow's
    join makes of the same pieces: sliced arrays, empty values, taken literals of one width or
    several, a piece that ends the object."""
    fixed = string_array(["xx", "AB", "CD", "EF", "GH", "yy"]).slice(1, 4)  # offset 1
    varied = string_array(["湖北", "a", "", "长名字的企业"])
    empty = string_array(["", "", "", ""])
    ids = string_array(['"i-1"', '"i-2"', '"i-3"'])
    mixed = string_array(['"a"', '"bb"', '"c"'])
    picks = np.array([2, 0, 1, 2], dtype=np.int64)
    parts = [
        '{"a":"',
        fixed,
        '","e":"',
        empty,
        '","v":"',
        varied,
        '","i":[',
        encode.Taken(ids, picks),
        ",",
        encode.Taken(mixed, picks),
        "]},",
    ]
    got = encode.join_parts(parts, 4)
    plain = [
        p if isinstance(p, pa.Array) else p.values.take(pa.array(p.indices))
        for p in parts
        if not isinstance(p, str)
    ]
    arrays = iter(plain)
    want = pc.binary_join_element_wise(
        *[pa.scalar(p) if isinstance(p, str) else next(arrays) for p in parts], ""
    )
    assert got.to_pylist() == want.to_pylist()
    assert got.to_pylist()[0] == '{"a":"AB","e":"","v":"湖北","i":["i-3","c"]},'
    assert encode.join_parts(["[", "]"], 3).to_pylist() == ["[]"] * 3
