"""A province larger than the memory limit holds runs in uscc ranges (ADR 0038): same rows,
same order, as one query."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools

import duckdb
import pyarrow as pa
import pytest

from functions import layout
from functions.classify.compile import compile_system
from functions.classify.engine_duckdb import (
    DICTIONARY,
    check_order,
    connect,
    entities_per_range,
    memory_bytes,
    ranged,
    register_lake_tables,
    run_duckdb_to_lake,
    uscc_ranges,
)
from functions.classify.load import load_system
from functions.classify.run import classify_month
from functions.errors import EngineError
from functions.lake import Lake
from functions.settings import Settings
from tests.classify_data import code, entity, write_curated
from tests.unit.test_classify_run import seed_all_datasets

CUT = dt.datetime(2026, 7, 5, tzinfo=dt.UTC)
T = dt.datetime


def seed_with_a_moved_record(lake: Lake) -> None:
    """All ten datasets, plus a correction that moves penalty P1 from entity 3 to entity 20 (the
    old and new owner fall in different ranges) and makes it severe."""
    seed_all_datasets(lake)
    write_curated(
        lake,
        "penalties",
        [
            {
                "decision_no": "P1",
                "uscc": code(20),
                "decided_on": dt.date(2026, 3, 1),
                "authority": "局",
                "domain": "food",
                "kind": "order_suspension",
                "amount": 5000.0,
            }
        ],
        ingest_id="20260702T000000Z-fix",
        ingested_at=T(2026, 7, 2, tzinfo=dt.UTC),
    )


def run(lake: Lake, **settings: object) -> tuple[object, dict[str, object]]:
    result = classify_month(
        lake,
        month="2026-06",
        province="13",
        cutoff=CUT,
        settings=Settings(lake_uri=lake.uri, **settings),  # type: ignore[arg-type]
    )
    table = lake.read_parquet(layout.run_classifications_key(result.run_id)).drop_columns(["run_id"])
    manifest = lake.read_json(f"{layout.run_prefix(result.run_id)}/manifest.json")
    return table, manifest


def test_ranged_run_equals_the_single_query(any_lake: Lake) -> None:
    seed_with_a_moved_record(any_lake)
    whole, m1 = run(any_lake)
    parts, m2 = run(any_lake, duckdb_range_entities=4)
    assert m1["engine_plan"]["uscc_ranges"] == [[None, None]]
    ranges = m2["engine_plan"]["uscc_ranges"]
    assert len(ranges) >= 5 and ranges[0][0] is None and ranges[-1][1] is None
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    assert parts.equals(whole)  # type: ignore[attr-defined]
    assert m2["counts"] == m1["counts"]
    usccs = parts.column("uscc").to_pylist()  # type: ignore[attr-defined]
    assert usccs == sorted(usccs) and len(set(usccs)) == len(usccs) == 21

    # the moved penalty's old and new owner are classified in different ranges ...
    def range_of(uscc: str) -> int:
        return next(n for n, (lo, hi) in enumerate(ranges) if (lo or "") <= uscc < (hi or "~"))

    assert range_of(code(3)) != range_of(code(20))
    # ... and the new owner counts it (entity 20 has no other penalty); that the old owner does
    # not is the ranked dedup's own test (test_classify_plan), and the rows equal the whole run's
    rows = {r["uscc"]: r for r in parts.to_pylist()}  # type: ignore[attr-defined]
    assert "SEVERE_PENALTIES_36M" in {x["code"] for x in rows[code(20)]["reasons"]}


def test_ranges_cover_every_code_once(local_lake: Lake) -> None:
    write_curated(local_lake, "entities", [entity(i) for i in range(1, 101)])
    con = connect(threads=1)
    register_lake_tables(con, local_lake, province="13")
    ranges = uscc_ranges(con, "13", 30)
    assert len(ranges) == 4
    counts = []
    for low, high in ranges:
        sql = ranged("SELECT uscc FROM curated_entities", low, high)
        counts.append(con.execute(f"SELECT count(*) FROM ({sql})").fetchall()[0][0])
    assert sum(counts) == 100 and max(counts) <= 30
    assert uscc_ranges(con, "13", 100) == [(None, None)]
    assert ranged("SELECT 1", None, None) == "SELECT 1"


def test_quotes_in_bounds_are_escaped() -> None:
    con = duckdb.connect()
    sql = ranged("SELECT 'a''b' AS uscc", "a'b", None)
    assert con.execute(sql).fetchall() == [("a'b",)]


def test_range_size_follows_the_memory_limit() -> None:
    assert memory_bytes("6GB") == 6 * 10**9
    assert memory_bytes("512 MiB") == 512 * 2**20
    assert memory_bytes("1.5gb") == 1_500_000_000
    with pytest.raises(ValueError, match="not a memory size"):
        memory_bytes("lots")
    assert entities_per_range(Settings(duckdb_memory_limit="6GB")) == 2_500_000
    assert entities_per_range(Settings(duckdb_memory_limit="3GB")) == 1_250_000
    assert entities_per_range(Settings(duckdb_range_entities=10)) == 10
    assert entities_per_range(None) == 2_500_000


def test_order_check_follows_batches() -> None:
    batch = pa.chunked_array([["a1", "a2"], ["a3"]])
    assert check_order(batch, None) == "a3"
    assert check_order(batch, "a0") == "a3"
    assert check_order(pa.chunked_array([], pa.string()), "a0") == "a0"
    for bad, after in ((["a2", "a1"], None), (["a1", "a1"], None), (["a1"], "a1"), (["a1"], "b")):
        with pytest.raises(EngineError, match="out of uscc order"):
            check_order(pa.chunked_array([bad]), after)


def test_a_result_out_of_uscc_order_is_not_written(local_lake: Lake) -> None:
    """The published file's order comes from a subquery (ADR 0039); if the engine ever returned
    rows out of order the run fails and leaves nothing behind."""
    write_curated(local_lake, "entities", [entity(i) for i in range(1, 30)])
    compiled = compile_system(
        load_system("samr-general"), month="2026-06", province="13", cutoff=CUT, run_id="r"
    )
    reversed_ = dataclasses.replace(compiled, keyed_sql=compiled.keyed_sql + " ORDER BY uscc DESC")
    key = layout.run_classifications_key("r")
    with pytest.raises(EngineError, match="out of uscc order"):
        run_duckdb_to_lake(local_lake, reversed_, key)
    assert local_lake.list_files("results", include_hidden=True) == []
    assert run_duckdb_to_lake(local_lake, compiled, key).rows == 29
    # min/max kept for the columns readers filter on, not for names and labels
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(local_lake.path(key)).metadata.row_group(0)
    stats = {meta.column(i).path_in_schema: meta.column(i).statistics for i in range(meta.num_columns)}
    assert stats["uscc"] is not None and stats["uscc"].min == code(1) and stats["risk_class"] is not None
    assert stats["name"] is None and stats["reasons.list.element.label"] is None
    # dictionaries for every column but the per-entity ones (the paths are the file's own)
    encodings = {meta.column(i).path_in_schema: meta.column(i).encodings for i in range(meta.num_columns)}
    assert set(DICTIONARY) == set(encodings) - {"uscc", "name"}
    assert "RLE_DICTIONARY" in encodings["reasons.list.element.label"]
    assert "RLE_DICTIONARY" not in encodings["uscc"] and "RLE_DICTIONARY" not in encodings["name"]


def test_batches_are_prepared_one_ahead_in_order() -> None:
    from functions.classify.engine_duckdb import _prepared

    batches = [pa.record_batch({"n": [i]}) for i in range(5)]
    seen: list[int] = []

    def prepare(batch: pa.RecordBatch) -> pa.Table:
        seen.append(batch.column(0)[0].as_py())
        return pa.Table.from_batches([batch])

    out = _prepared(batches, prepare)
    assert next(out).column("n").to_pylist() == [0]
    assert [t.column("n")[0].as_py() for t in out] == [1, 2, 3, 4]
    assert seen == [0, 1, 2, 3, 4]  # each batch prepared once, in order
    assert list(_prepared([], prepare)) == []

    def broken(batch: pa.RecordBatch) -> pa.Table:
        raise EngineError("bad batch")

    with pytest.raises(EngineError, match="bad batch"):
        list(_prepared(batches, broken))
