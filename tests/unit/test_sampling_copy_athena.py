"""The sampling copy of a run on Athena is written by Athena (ADR 0147), never by downloading the
province into the function: an aggregate ``UNLOAD`` for the index, partitioned ``UNLOAD``s of the
rows with their positions (at most 100 partitions each), copied into the copy's chunks. The
stand-in plays every statement on DuckDB (files interleaved, as Athena may write them), and the
copy must hold what the DuckDB path writes for the same run: same index, same rows in the same
order, so the same plans. Athena's documented rules are checks that refuse a statement before
it is sent."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pytest

from functions import layout
from functions.classify import engine_athena, sampling_copy
from functions.classify.engine_athena import MAX_QUERY_BYTES, check_statement, ctas_table_name, execute
from functions.classify.run import classify_month
from functions.errors import EngineError, StorageError
from functions.lake import Lake
from functions.objections import adjust
from functions.sampling import cells
from functions.sampling import frame as frames
from functions.settings import Settings
from schemas.objections import Actor
from tests.athena_fake import TableAthena
from tests.classify_data import entity, write_curated

MONTH = "2026-06"
CUT = dt.datetime(2026, 7, 5, tzinfo=dt.UTC)
REGIONS = ("130102", "130105", "131000")
INDUSTRIES = ("C13", "A01", "G52", "C27")


def _entities(n: int) -> list[dict[str, Any]]:
    return [
        entity(
            i,
            region_code=REGIONS[i % 3],
            industry_code=INDUSTRIES[(i // 3) % 4],
            entity_type="individual" if i % 5 == 0 else "enterprise",
            status="revoked" if i % 7 == 0 else "active",
        )
        for i in range(1, n + 1)
    ]


class Refusing:
    """A runner that must not be reached."""

    def start(self, sql: str) -> str:
        raise AssertionError("sent to Athena")

    def wait(self, query_id: str) -> dict[str, Any]:
        raise AssertionError("sent to Athena")


def test_athena_writes_the_copy_the_duckdb_path_writes(
    s3_lake: Lake, s3_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_curated(s3_lake, "entities", _entities(250))
    first = classify_month(s3_lake, month=MONTH, province="13", cutoff=CUT, settings=s3_settings)
    li, wang = Actor(kind="operator", id="li", name="li"), Actor(kind="operator", id="wang", name="wang")
    moved = entity(8)["uscc"]  # revoked: D; the approved adjustment makes it B (ADR 0120)
    a = adjust.propose(s3_lake, moved, MONTH, "B", "核查后调整", li)
    adjust.decide(s3_lake, MONTH, a.adjustment_id, wang, approve=True)

    monkeypatch.setattr(cells, "CHUNK_ROWS", 16)  # 16 chunks, at most 10 per statement here:
    monkeypatch.setattr(engine_athena, "MAX_PARTITIONS", 10)  # two row UNLOADs (10 + 6)
    fake = TableAthena(s3_lake, files_per_partition=2)
    downloads: list[str] = []
    real_download = s3_lake.download
    monkeypatch.setattr(
        s3_lake, "download", lambda key, *a, **k: downloads.append(key) or real_download(key, *a, **k)
    )
    run = classify_month(
        s3_lake,
        month=MONTH,
        province="13",
        engine="athena",
        cutoff=CUT,
        settings=s3_settings,
        athena_runner=fake,
    )
    assert run.run_id != first.run_id and not downloads  # nothing of the province came down

    table = f"{s3_settings.athena_database}.{ctas_table_name(run.run_id)}"
    unloads = [u for u in fake.statements("UNLOAD") if "/sampling-" in u]  # not the change feed's
    assert len(unloads) == 3 and all(table in u for u in unloads)  # index, then rows x2
    assert "partitioned_by" not in unloads[0] and all(
        "partitioned_by = ARRAY['part']" in u for u in unloads[1:]
    )
    assert fake.submitted[-1] == f"DROP TABLE IF EXISTS {table}" and not fake.tables
    assert not s3_lake.list_files(layout.athena_unload_prefix(""), include_hidden=True)  # scratch emptied

    athena = cells.load_run(s3_lake, MONTH, "13", run.run_id)
    assert athena is not None and athena.chunks is not None and len(athena.chunks.files) == 16
    assert sum(len(f) for f in athena.chunks.files) == 32  # two interleaved files per chunk

    # The DuckDB path over the same run's rows (as another run id), the single sorted file.
    rows = s3_lake.read_parquet(layout.run_classifications_key(run.run_id))
    s3_lake.write_parquet(layout.run_classifications_key("run-duck"), rows)
    sampling_copy.write_sampling_copy(s3_lake, MONTH, "13", "run-duck", "m", settings=s3_settings)
    duck = cells.load_run(s3_lake, MONTH, "13", "run-duck")
    assert duck is not None and duck.chunks is None
    assert athena.index.to_pylist() == duck.index.to_pylist()  # cells, starts, counts, digests
    every = list(range(250))
    columns = list(cells.COPY_COLUMNS)
    assert cells.fetch(athena, every, columns).equals(cells.fetch(duck, every, columns))
    got = cells.fetch(athena, every, ["uscc", "risk_class"]).to_pylist()
    assert {r["uscc"]: r["risk_class"] for r in got}[moved] == "B"
    for scope in (frames.Scope(), frames.Scope(region_prefix="130105", entity_types=("enterprise",))):
        a_sel = cells.selection(athena, scope, ("A", "B", "C", "D"))
        d_sel = cells.selection(duck, scope, ("A", "B", "C", "D"))
        assert (a_sel.digest, a_sel.populations) == (d_sel.digest, d_sel.populations)
    assert cells.rebuilt(athena).index.to_pylist() == athena.index.to_pylist()  # verification


def test_the_row_unloads_write_at_most_100_partitions_each() -> None:
    statements = sampling_copy.copy_statements("db.t", {}, 250 * 1000 - 1, "s3://b/x/", 1000)
    assert [p for _, p in statements] == [100, 100, 50]
    assert "pos >= 100000 AND pos < 200000" in statements[1][0]
    assert "pos >= 200000 AND pos < 250000" in statements[2][0]


@pytest.mark.parametrize(
    ("sql", "partitions", "message"),
    [
        ("UNLOAD (\nSELECT 1\n) TO 's3://b/x/' WITH (format = 'PARQUET')", 101, "101 partitions"),
        (
            "CREATE TABLE db.t WITH (format = 'PARQUET', external_location = 's3://b/t/') AS\nSELECT 1",
            0,
            "external_location",
        ),
        ("SELECT '" + "x" * MAX_QUERY_BYTES + "'", 0, "bytes"),
    ],
)
def test_a_statement_athena_would_refuse_is_never_sent(sql: str, partitions: int, message: str) -> None:
    with pytest.raises(EngineError, match=message):
        execute(Refusing(), sql, partitions=partitions)
    check_statement("UNLOAD (\nSELECT 1\n) TO 's3://b/x/' WITH (format = 'PARQUET')", partitions=100)


def test_the_stand_in_refuses_what_athena_refuses(s3_lake: Lake) -> None:
    """The stand-in is as strict as Athena, so the tests above prove something."""
    fake = TableAthena(s3_lake)
    rows = "SELECT x, x AS part FROM UNNEST(sequence(1, 101)) AS t (x)"
    sql = sampling_copy.unload_statement(rows, s3_lake.display("scratch/p") + "/", partitioned=True)
    assert fake.wait(fake.start(sql))["StateChangeReason"].startswith("HIVE_TOO_MANY_OPEN_PARTITIONS")
    once = sampling_copy.unload_statement("SELECT 1 AS x", s3_lake.display("scratch/u") + "/")
    assert fake.wait(fake.start(once))["State"] == "SUCCEEDED"
    assert fake.wait(fake.start(once))["State"] == "FAILED"  # the destination is no longer empty
    assert isinstance(s3_lake.read_parquet(s3_lake.list_files("scratch/u")[0].key), pa.Table)


def test_rows_without_a_cell_key_are_a_clear_error(s3_lake: Lake) -> None:
    rows = pa.table(
        {
            "uscc": ["911300000000000011", "911300000000000021"],
            "name": ["甲", "乙"],
            "risk_class": ["A", "B"],
            "region_code": ["130102", None],
            "industry_code": ["C13", "C13"],
            "entity_type": ["enterprise", "enterprise"],
        }
    )
    s3_lake.write_parquet("scratch/t/part-0.parquet", rows)
    fake = TableAthena(s3_lake, tables={"db.run_t": "scratch/t/part-0.parquet"})
    with pytest.raises(StorageError, match="without a class, region"):
        sampling_copy.write_sampling_copy_athena(
            s3_lake, MONTH, "13", "run-t", "m", source="db.run_t", runner=fake
        )
    assert len(fake.statements("UNLOAD")) == 1  # refused after the index, before any row is written
    assert not s3_lake.exists(layout.sampling_cells_key(MONTH, "13", "run-t"))


def test_a_leftover_scratch_is_refused_before_any_statement(s3_lake: Lake) -> None:
    """A partitioned UNLOAD appends to its partitions: rows left by an earlier attempt would be
    taken as the copy's, so the scratch must be empty before the first statement."""
    s3_lake.write_bytes(f"{layout.athena_unload_prefix('sampling-run-t')}/rows/part=0/old", b"x")
    with pytest.raises(EngineError, match="not empty"):
        sampling_copy.write_sampling_copy_athena(
            s3_lake, MONTH, "13", "run-t", "m", source="db.t", runner=Refusing()
        )
