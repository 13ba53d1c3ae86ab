"""Champion / challenger on Athena (docs/adr/0139): the challenger's months are re-classified by
the monthly run's CTAS (no ``external_location``) and copied into the scratch, and the backtest
statements read them through the one Glue table ``backtest_classifications`` with their job
named. moto's Athena runs nothing: a stand-in records every statement, checks it parses as Trino
SQL and plays it on DuckDB over the same lake with the tables generated from ``schemas/`` (as
Athena would see them), so the same comparison on DuckDB must give the same figures."""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass, field
from typing import Any

import pyarrow.parquet as pq
import sqlglot

from functions import layout
from functions.analysis.challenger import SCRATCH_TABLE, compare
from functions.classify.compile import to_duckdb
from functions.classify.engine_duckdb import conform, connect, register_lake_tables
from functions.classify.load import load_system
from functions.classify.run import classify_month
from functions.injected_projection import scans, violations
from functions.lake import Lake
from functions.results_tables import register_results_tables
from functions.settings import Settings
from tests.athena_fake import UNLOAD_RE
from tests.warnings_data import code, entity, write_curated

P = "42"
D = dt.date
CUT = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
N = 40


@dataclass
class ReplayAthena:
    """Athena in the platform workgroup, played on DuckDB: a CTAS writes one object under
    ``<output>/tables/<query id>/`` (and fails with an ``external_location``, as an enforced
    workgroup does), an ``UNLOAD`` writes its rows under its ``TO`` prefix."""

    lake: Lake
    submitted: list[str] = field(default_factory=list)

    def start(self, sql: str) -> str:
        self.submitted.append(sql)
        return f"q{len(self.submitted)}"

    def wait(self, query_id: str) -> dict[str, Any]:
        sql = self.submitted[int(query_id[1:]) - 1]
        if sql.startswith("DROP TABLE"):
            return {"State": "SUCCEEDED", "StateChangeReason": ""}
        con = connect()  # fresh each time: the scratch grows during the comparison
        register_lake_tables(con, self.lake)
        register_results_tables(con, self.lake)
        if sql.startswith("CREATE TABLE"):
            if "external_location" in sql:
                return {"State": "FAILED", "StateChangeReason": "external_location in an enforced workgroup"}
            table = conform(con.sql(to_duckdb(sql.split(") AS\n", 1)[1])).to_arrow_table())
            to = f"{layout.ATHENA_PLATFORM_RESULTS}/tables/{query_id}/bucket-00000"
        else:
            m = UNLOAD_RE.match(sql)
            assert m is not None, sql[:300]
            table = con.sql(to_duckdb(m.group("query"))).to_arrow_table()
            to = m.group("to").removeprefix(self.lake.uri.rstrip("/") + "/").rstrip("/") + "/part-0"
        con.close()
        buf = io.BytesIO()
        pq.write_table(table, buf)
        self.lake.write_bytes(to, buf.getvalue())
        return {"State": "SUCCEEDED", "StateChangeReason": ""}


def _province(lake: Lake, settings: Settings) -> None:
    """40 entities; penalties (large fines, half repaired: 1.1 and 1.2 disagree), annual reports,
    inspections through October; 1.1 published for July..September."""
    write_curated(lake, "entities", P, [entity(i) for i in range(1, N + 1)], ingest_id="e1")
    penalties = [
        {
            "decision_no": f"F-{i}-{k}",
            "uscc": code(i),
            "decided_on": D(2026, 3, 1),
            "authority": "x",
            "domain": "other",
            "kind": "fine",
            "amount": 500.0 if k < 2 else 2_000_000.0,
            # the large fine repaired for every other entity: 1.1 still counts its amount (C),
            # 1.2 no longer does (B)
            "repaired_on": D(2026, 6, 1) if k == 2 and i % 2 else None,
        }
        for i in range(1, N, 3)
        for k in (0, 1, 2)
    ]
    write_curated(lake, "penalties", P, penalties, ingest_id="p1")
    reports = [{"uscc": code(i), "year": 2025, "filed_on": D(2026, 5, 1)} for i in range(1, N - 5)]
    write_curated(lake, "annual_reports", P, reports, ingest_id="r1")
    results = ("problem_found", "no_problem", "corrected", "no_problem")
    inspections = [
        {
            "inspection_id": f"I-{i}",
            "uscc": code(i),
            "inspected_on": D(2026, 8 + i % 3, 10 + i % 15),
            "domain": "other",
            "result": results[i % 4],
        }
        for i in range(1, N + 1)
    ]
    write_curated(lake, "inspections", P, inspections, ingest_id="i1")
    for month in ("2026-07", "2026-08", "2026-09"):
        classify_month(
            lake, month=month, province=P, settings=settings, system_id="samr-general@1.1", cutoff=CUT
        )


def _figures(result: dict[str, Any]) -> dict[str, Any]:
    return {k: result[k] for k in ("champion", "challenger", "class_changes", "reference")}


def test_challenger_on_athena_matches_duckdb(s3_lake: Lake, s3_settings: Settings) -> None:
    _province(s3_lake, s3_settings)
    args: dict[str, Any] = {
        "first": "2026-08",
        "last": "2026-09",
        "province": P,
        "champion": load_system("samr-general@1.1"),
        "challenger": load_system("samr-general@1.2"),
        "settings": s3_settings,
        "cutoff": CUT,
        "replicates": 50,
    }
    duck = compare(s3_lake, **args, engine="duckdb")
    fake = ReplayAthena(s3_lake)
    athena = compare(s3_lake, **args, engine="athena", athena_runner=fake)
    assert _figures(athena) == _figures(duck)
    assert duck["class_changes"]["changed"] > 0  # the two systems do disagree here
    assert athena["reclassified"]["challenger"]["counts"] == duck["reclassified"]["challenger"]["counts"]

    job = f"{athena['job']}-challenger"
    for month in ("2026-07", "2026-08", "2026-09"):
        assert s3_lake.exists(layout.backtest_classification_key(job, month, P))
    ctas = [s for s in fake.submitted if s.startswith("CREATE TABLE")]
    assert len(ctas) == 3 and not any("external_location" in s for s in ctas)
    unloads = [s for s in fake.submitted if s.startswith("UNLOAD")]
    scratch = [s for s in unloads if SCRATCH_TABLE in s]
    assert scratch and all(f"job = '{job}'" in s for s in scratch)
    assert not any(re.search(r"\bbt_(champion|challenger)\b", s) for s in unloads)  # no per-run table
    # What Athena gets parses as Trino SQL (the CTAS's SELECT, the UNLOADs' queries).
    queries = [s.split(") AS\n", 1)[1] for s in ctas] + [UNLOAD_RE.match(s)["query"] for s in unloads]  # type: ignore[index]
    for q in queries:
        sqlglot.parse_one(q, read="trino")
        # every scan of the injected-projection table names its job at the scan (ADR 0150)
        assert violations(q) == [], q
    assert sum(scans(q) for q in queries) >= len(scratch)
    # The published results are the champion's, untouched; nothing published for the challenger.
    assert "champion" not in athena["reclassified"]
    assert not s3_lake.list_files("results/runs/" + job)
