"""On Athena the change feed's rows are written by Athena (ADR 0152), never by streaming the run's
Parquet through the function: a count, then partitioned ``UNLOAD``s of the changed rows numbered
by uscc, copied beside the run as position chunks. The feed reads them as it reads the DuckDB
path's single file, and pages out the same rows in the same order."""

from __future__ import annotations

import json
from typing import Any, cast

import pyarrow as pa
import pytest

from functions import layout
from functions.classify import engine_athena
from functions.delivery import bulk, changes
from functions.delivery.cursor import clear_cache
from functions.errors import EngineError, StorageError
from functions.lake import Lake
from functions.sampling.signing import HmacSigner
from tests.athena_fake import TableAthena
from tests.guarded_lake import GuardedLake
from tests.sampling_data import changed_table, publish

MONTH = "2026-10"
TABLE = "db.classify_run_run_1"


@pytest.fixture
def table() -> pa.Table:
    return changed_table()


@pytest.fixture
def lake(s3_lake: Lake, table: pa.Table) -> Lake:
    clear_cache()
    bulk.clear_cache()
    publish(s3_lake, table, MONTH, "42", sampling_copy=False, with_roster=False)
    s3_lake.write_parquet("scratch/t/part-0.parquet", table)  # the run's table, as Athena holds it
    return s3_lake


def _feed(lake: Lake, limit: int = 40) -> list[dict[str, Any]]:
    signer = HmacSigner(b"\x01" * 32)  # cursors' MAC (KMS in AWS)
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        body = json.loads(bulk.page(lake, month=MONTH, province="42", cursor=cursor, limit=limit,
                                    changes_only=True, max_bytes=10**6, signer=signer))  # fmt: skip
        rows += body["rows"]
        cursor = body["next_cursor"]
        if cursor is None:
            return rows


def test_athena_writes_the_feed_the_duckdb_path_writes(
    lake: Lake, table: pa.Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    duck_count = changes.write_changes(lake, MONTH, "42", "run-1")  # the DuckDB path's single file
    duck_file = lake.read_parquet(layout.changes_key(MONTH, "42", "run-1"))
    duck_feed = _feed(lake)
    lake.delete(layout.changes_key(MONTH, "42", "run-1"))
    bulk.clear_cache()

    monkeypatch.setattr(engine_athena, "MAX_PARTITIONS", 3)  # 4 chunks of 40: two row UNLOADs (3 + 1)
    fake = TableAthena(lake, files_per_partition=2, tables={TABLE: "scratch/t/part-0.parquet"})
    guarded = cast(Lake, GuardedLake.of_keys(
        lake, "scratch/t/part-0.parquet", layout.run_classifications_key("run-1"),
        layout.classification_key(MONTH, "42"),
    ))  # fmt: skip
    count = changes.write_changes_athena(
        guarded, MONTH, "42", "run-1", source=TABLE, runner=fake, chunk_rows=40
    )
    assert count == duck_count == duck_file.num_rows and 120 < count <= 160
    unloads = fake.statements("UNLOAD")
    assert len(unloads) == 3 and "partitioned_by" not in unloads[0]  # the count, then rows x2
    assert all("partitioned_by = ARRAY['part']" in u and TABLE in u for u in unloads[1:])
    assert not lake.list_files(layout.athena_unload_prefix(""), include_hidden=True)  # scratch emptied

    prefix = layout.changes_chunks_prefix(MONTH, "42", "run-1")
    listing = json.loads(lake.read_bytes(f"{prefix}/{changes.CHUNKS_FILE}"))
    assert listing["rows"] == count and len(listing["files"]) == 4
    assert all(len(f) == 2 for f in listing["files"])  # two interleaved files per chunk
    athena_feed = _feed(lake)
    assert athena_feed == duck_feed  # the same rows, in the same order (uscc), the same JSON
    assert [r["uscc"] for r in athena_feed] == duck_file["uscc"].to_pylist()


def test_a_chunk_that_lost_a_row_is_a_clear_error(lake: Lake) -> None:
    fake = TableAthena(lake, files_per_partition=2, tables={TABLE: "scratch/t/part-0.parquet"})
    changes.write_changes_athena(lake, MONTH, "42", "run-1", source=TABLE, runner=fake, chunk_rows=40)
    prefix = layout.changes_chunks_prefix(MONTH, "42", "run-1")
    key = f"{prefix}/1-0.parquet"
    lake.write_parquet(key, lake.read_parquet(key).slice(1))
    with pytest.raises(StorageError, match="chunk 1 of the change feed"):
        _feed(lake)


def test_a_leftover_scratch_is_refused_before_any_statement(lake: Lake) -> None:
    lake.write_bytes(f"{layout.athena_unload_prefix('changes-run-1')}/rows/part=0/old", b"x")
    fake = TableAthena(lake, tables={TABLE: "scratch/t/part-0.parquet"})
    with pytest.raises(EngineError, match="not empty"):
        changes.write_changes_athena(lake, MONTH, "42", "run-1", source=TABLE, runner=fake)
    assert not fake.submitted


def test_the_row_unloads_write_at_most_100_partitions_each() -> None:
    stmts = changes.athena_statements("db.t", 250 * 50_000 + 1, "s3://b/u/", 50_000)
    assert [p for _, p in stmts] == [100, 100, 51]
    for sql, partitions in stmts:
        engine_athena.check_statement(sql, partitions=partitions)
    assert "pos >= 10000000 AND pos < 12550000" in stmts[2][0]


def test_a_month_without_changes_has_an_empty_feed(s3_lake: Lake, table: pa.Table) -> None:
    same = table.set_column(table.schema.get_field_index("previous_class"), "previous_class",
                            table["risk_class"])  # fmt: skip
    clear_cache()
    bulk.clear_cache()
    publish(s3_lake, same, MONTH, "42", sampling_copy=False, with_roster=False)
    s3_lake.write_parquet("scratch/t/part-0.parquet", same)
    fake = TableAthena(s3_lake, tables={TABLE: "scratch/t/part-0.parquet"})
    assert not s3_lake.exists(layout.changes_key(MONTH, "42", "run-1"))
    assert changes.write_changes_athena(s3_lake, MONTH, "42", "run-1", source=TABLE, runner=fake) == 0
    assert len(fake.statements("UNLOAD")) == 1  # the count only
    assert _feed(s3_lake) == []
