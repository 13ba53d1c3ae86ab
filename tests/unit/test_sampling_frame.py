"""The frame: scope filters, digest, sorting, per-process cache keyed by object identity."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pytest

from functions.errors import NotFound, StorageError
from functions.lake import Lake
from functions.sampling import frame as frames
from tests.sampling_data import publish, results_table


def _expected_digest(table: pa.Table) -> str:
    body = "".join(
        f"{u}\t{c}\t" for u, c in zip(table["uscc"].to_pylist(), table["risk_class"].to_pylist(), strict=True)
    )
    return hashlib.sha256(b"uscc-class-v1\n" + body.encode()).hexdigest()


def test_digest_is_the_documented_sha256() -> None:
    t = results_table("42", 300)
    f = frames.frame_from_table(t)
    assert frames.digest(f.table) == _expected_digest(t)
    sliced = f.table.slice(17, 40)
    assert frames.digest(sliced) == _expected_digest(sliced)
    assert frames.digest(f.table.slice(0, 0)) == hashlib.sha256(b"uscc-class-v1\n").hexdigest()


def test_unsorted_input_is_sorted_and_digest_ignores_row_order() -> None:
    t = results_table("42", 200)
    shuffled = t.take(pa.array(list(reversed(range(t.num_rows)))))
    assert frames.digest(frames.frame_from_table(shuffled).table) == _expected_digest(t)


def test_scope_filters() -> None:
    t = results_table("42", 1000)
    f = frames.frame_from_table(t)
    rows = t.to_pylist()
    excl = [r["uscc"] for r in rows[:50]]
    scope = frames.Scope(
        region_prefix="4201", industries=("A", "C"), entity_types=("enterprise",), exclude=tuple(excl)
    )
    got = frames.scoped(f, scope)["uscc"].to_pylist()
    want = [
        r["uscc"]
        for r in rows
        if r["region_code"].startswith("4201")
        and r["industry_code"][0] in "AC"
        and r["entity_type"] == "enterprise"
        and r["uscc"] not in excl
    ]
    assert got == want and 0 < len(got) < 1000
    assert frames.scoped(f, frames.Scope()).num_rows == 1000


def test_mixed_runs_are_refused() -> None:
    a = results_table("42", 10, run_id="r1")
    b = results_table("42", 10, run_id="r2", seed=9)
    with pytest.raises(StorageError):
        frames.frame_from_table(pa.concat_tables([a, b]))


def test_cache_is_keyed_by_object_identity(local_lake: Lake) -> None:
    frames.clear_cache()
    publish(local_lake, results_table("42", 100, run_id="r1"), "2026-10", "42")
    first = frames.load_published(local_lake, "2026-10", "42")
    assert frames.load_published(local_lake, "2026-10", "42").table is first.table  # warm: no re-read
    assert first.run_id == "r1" and first.pointer["run_id"] == "r1"
    publish(local_lake, results_table("42", 120, run_id="r2", seed=3), "2026-10", "42")
    second = frames.load_published(local_lake, "2026-10", "42")
    assert second.run_id == "r2" and second.size == 120


def test_missing_month_is_not_found(local_lake: Lake) -> None:
    with pytest.raises(NotFound) as err:
        frames.load_published(local_lake, "2026-09", "42")
    assert err.value.field == "month"


def test_empty_scope_has_empty_strata() -> None:
    """Regression: pyarrow segfaulted on indices_nonzero over a zero-chunk column."""
    f = frames.frame_from_table(results_table("42", 50))
    empty = frames.scoped(f, frames.Scope(region_prefix="429999"))
    assert empty.num_rows == 0
    assert {c: len(v) for c, v in frames.stratum_indices(empty, "ABCD").items()} == dict.fromkeys("ABCD", 0)


def test_buffer_built_arrays_equal_pa_array() -> None:
    values = ["A", "", "湖北", "x\ty"]
    assert frames.string_array(values).equals(pa.array(values, pa.string()))
    assert frames.string_array([]).equals(pa.array([], pa.string()))
    assert frames.int64_array([3, -1, 2**40]).equals(pa.array([3, -1, 2**40], pa.int64()))
    assert frames.string_scalar("湖北").as_py() == "湖北"
