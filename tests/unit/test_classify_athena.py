"""The Athena path: submits exactly the compiled statement (wrapped in CTAS), waits, publishes by
S3 copy, and turns FAILED/CANCELLED into a clear EngineError. moto's Athena runs nothing, so an
injected runner stands in for Athena and writes what Athena would (via the DuckDB engine)."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field
from typing import Any

import pyarrow.parquet as pq
import pytest

from functions import layout
from functions.classify.compile import compile_system, to_duckdb
from functions.classify.engine_athena import (
    athena_statements,
    ctas_output_prefix,
    ctas_table_name,
    execute,
    workgroup_output_key,
)
from functions.classify.engine_duckdb import conform, connect, register_lake_tables
from functions.classify.load import load_system
from functions.classify.run import classify_month
from functions.errors import EngineError
from functions.lake import Lake
from functions.settings import Settings
from tests.athena_fake import TableAthena
from tests.classify_data import entity, write_curated

CUT = dt.datetime(2026, 7, 5, tzinfo=dt.UTC)


@dataclass
class FakeAthena:
    """Records submitted SQL; answers each wait with the next state; on a successful CTAS writes
    one Parquet object where a workgroup that enforces its configuration puts it
    (``<output location>/tables/<query id>/``), computed by DuckDB from the submitted SELECT.
    Like Athena in such a workgroup, it fails a CTAS that names an ``external_location``. The
    sampling copy's ``UNLOAD``s over the run's table are played by :class:`TableAthena`."""

    lake: Lake
    states: list[str] = field(default_factory=lambda: ["SUCCEEDED", "SUCCEEDED"])
    output_key: str = layout.ATHENA_PLATFORM_RESULTS
    submitted: list[str] = field(default_factory=list)
    waited: list[str] = field(default_factory=list)
    player: TableAthena | None = None

    def start(self, sql: str) -> str:
        self.submitted.append(sql)
        return f"q{len(self.submitted)}"

    def wait(self, query_id: str) -> dict[str, Any]:
        self.waited.append(query_id)
        sql = self.submitted[int(query_id[1:]) - 1]
        if sql.startswith("UNLOAD"):
            return self._player().play(sql, query_id)
        state = self.states[sum(not s.startswith("UNLOAD") for s in self.submitted[: int(query_id[1:])]) - 1]
        if sql.startswith("CREATE TABLE") and "external_location" in sql:
            return {"State": "FAILED", "StateChangeReason": "external_location in an enforced workgroup"}
        if state == "SUCCEEDED" and sql.startswith("CREATE TABLE"):
            self._play_ctas(sql, query_id)
        return {"State": state, "StateChangeReason": "SYNTAX_ERROR: line 1:8" if state == "FAILED" else ""}

    def _play_ctas(self, sql: str, query_id: str) -> None:
        select = sql.split(") AS\n", 1)[1]
        con = connect()
        register_lake_tables(con, self.lake)
        table = conform(con.sql(to_duckdb(select)).to_arrow_table())
        buf = io.BytesIO()
        pq.write_table(table, buf)
        key = f"{self.output_key}/tables/{query_id}/20260705_000000_00001_bucket-00000"
        self.lake.write_bytes(key, buf.getvalue())
        self._player().tables[sql.split(" ", 3)[2]] = key

    def _player(self) -> TableAthena:
        if self.player is None:
            self.player = TableAthena(self.lake)
        return self.player


def test_statements_wrap_the_compiled_select(s3_lake: Lake) -> None:
    compiled = compile_system(
        load_system("samr-general"), month="2026-06", province="13", cutoff=CUT, run_id="run-x"
    )
    ctas, drop = athena_statements(compiled, "creditrisk")
    assert ctas.endswith(compiled.sql)
    assert "bucketed_by = ARRAY['uscc'], bucket_count = 1" in ctas
    assert "external_location" not in ctas  # the platform workgroup enforces its location
    assert drop == f"DROP TABLE IF EXISTS creditrisk.{ctas_table_name('run-x')}"


def test_athena_run_submits_waits_and_publishes(s3_lake: Lake, s3_settings: Settings) -> None:
    write_curated(s3_lake, "entities", [entity(1), entity(2, status="revoked")])
    fake = FakeAthena(s3_lake)
    result = classify_month(
        s3_lake,
        month="2026-06",
        province="13",
        engine="athena",
        cutoff=CUT,
        settings=s3_settings,
        athena_runner=fake,
    )
    # the CTAS, the class counts' UNLOAD, the sampling copy's index and rows UNLOADs over its
    # table (ADR 0147), the change feed's count and rows UNLOADs (ADR 0152), the drop
    assert len(fake.submitted) == 7 and fake.waited == [f"q{i}" for i in range(1, 8)]
    assert all(s.startswith("UNLOAD") and ctas_table_name(result.run_id) in s for s in fake.submitted[1:6])
    assert "GROUP BY risk_class" in fake.submitted[1]
    (compiled_sql,) = result.manifest["statements"]
    assert "entities AS (SELECT" in compiled_sql
    assert fake.submitted[0].endswith(compiled_sql)
    assert fake.submitted[6] == f"DROP TABLE IF EXISTS creditrisk.{ctas_table_name(result.run_id)}"
    assert result.manifest["engine"] == "athena"
    assert result.counts == {"A": 1, "B": 0, "C": 0, "D": 1}
    published = s3_lake.read_parquet(layout.classification_key("2026-06", "13"))
    assert published.num_rows == 2 and published.column("run_id")[0].as_py() == result.run_id
    assert s3_lake.read_json(layout.classification_pointer_key("2026-06", "13"))["run_id"] == result.run_id
    # the same statement on DuckDB gives the same rows
    duck = classify_month(s3_lake, month="2026-06", province="13", cutoff=CUT, settings=s3_settings)
    a = s3_lake.read_parquet(layout.run_classifications_key(result.run_id)).drop_columns(["run_id"])
    b = s3_lake.read_parquet(layout.run_classifications_key(duck.run_id)).drop_columns(["run_id"])
    assert a.equals(b)


@pytest.mark.parametrize("state", ["FAILED", "CANCELLED"])
def test_failed_or_cancelled_query_is_a_clear_error(s3_lake: Lake, s3_settings: Settings, state: str) -> None:
    write_curated(s3_lake, "entities", [entity(1)])
    fake = FakeAthena(s3_lake, states=[state])
    with pytest.raises(EngineError) as err:
        classify_month(
            s3_lake, month="2026-06", province="13", engine="athena", settings=s3_settings, athena_runner=fake
        )
    assert f"Athena query q1 {state.lower()}" in str(err.value)
    assert err.value.details["state"] == state
    assert len(fake.submitted) == 1  # nothing after the failure, nothing published
    assert not s3_lake.exists(layout.classification_key("2026-06", "13"))


def test_refused_submission_and_odd_states() -> None:
    class Refusing:
        def start(self, sql: str) -> str:
            raise RuntimeError("AccessDenied")

        def wait(self, query_id: str) -> dict[str, Any]:
            raise AssertionError

    with pytest.raises(EngineError, match="Athena refused the query: AccessDenied"):
        execute(Refusing(), "SELECT 1")

    class Odd:
        def start(self, sql: str) -> str:
            return "q"

        def wait(self, query_id: str) -> dict[str, Any]:
            return {"State": "RUNNING"}

    with pytest.raises(EngineError, match="unexpected state RUNNING"):
        execute(Odd(), "SELECT 1")


def test_missing_output_file_is_an_error(s3_lake: Lake, s3_settings: Settings) -> None:
    write_curated(s3_lake, "entities", [entity(1)])

    class NoOutput(FakeAthena):
        def _play_ctas(self, sql: str, query_id: str) -> None:
            """Athena reports success but wrote nothing."""

    with pytest.raises(EngineError, match="wrote 0 data files"):
        classify_month(
            s3_lake,
            month="2026-06",
            province="13",
            engine="athena",
            settings=s3_settings,
            athena_runner=NoOutput(s3_lake),
        )


def test_ctas_output_is_read_from_the_workgroup_location(s3_lake: Lake, s3_settings: Settings) -> None:
    assert workgroup_output_key(s3_lake, s3_settings) == "athena-results/platform"
    assert ctas_output_prefix(s3_lake, s3_settings, "q7") == "athena-results/platform/tables/q7"
    custom = s3_settings.model_copy(update={"athena_output_uri": s3_lake.display("scratch/wg") + "/"})
    assert ctas_output_prefix(s3_lake, custom, "q7") == "scratch/wg/tables/q7"
    outside = s3_settings.model_copy(update={"athena_output_uri": "s3://elsewhere/athena/"})
    with pytest.raises(EngineError, match="outside the lake"):
        workgroup_output_key(s3_lake, outside)


def test_local_lake_cannot_use_athena(local_lake: Lake, local_settings: Settings) -> None:
    write_curated(local_lake, "entities", [entity(1)])
    with pytest.raises(EngineError, match="needs an s3:// lake"):
        classify_month(
            local_lake,
            month="2026-06",
            province="13",
            engine="athena",
            settings=local_settings,
            athena_runner=FakeAthena(local_lake),
        )
