"""Runs end to end on DuckDB: publish, manifest, previous class, determinism, atomicity, explain."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pytest

from functions import layout
from functions.classify.engine_duckdb import register_lake_tables
from functions.classify.explain import explain, render
from functions.classify.run import classify_all, classify_month, previous_month_in, provinces_with_data
from functions.errors import InvalidInput, NotFound, StorageError
from functions.lake import Lake
from functions.settings import Settings
from schemas.results import CLASSIFICATION_SCHEMA
from tests.classify_data import code, entity, write_curated

CUT = dt.datetime(2026, 7, 5, tzinfo=dt.UTC)
D = dt.date


def settings_for(lake: Lake) -> Settings:
    return Settings(lake_uri=lake.uri)


def seed_all_datasets(lake: Lake) -> None:
    """A small province touching all ten datasets."""
    ents = [
        entity(i, established_on=D(2010 + i % 16, 1, 1), registered_capital=float(i * 7))
        for i in range(1, 21)
    ]
    ents.append(entity(21, status="revoked", status_changed_on=D(2026, 1, 1)))
    write_curated(lake, "entities", ents)
    write_curated(
        lake,
        "registration_changes",
        [
            {
                "change_id": f"C{i}",
                "uscc": code(1 + i % 3),
                "changed_on": D(2026, 1 + i % 5, 3),
                "item": "address",
            }
            for i in range(9)
        ],
    )
    write_curated(
        lake,
        "annual_reports",
        [
            {"uscc": code(i), "year": 2025, "filed_on": None if i % 4 == 0 else D(2026, 5, 1)}
            for i in range(1, 21)
        ],
    )
    write_curated(
        lake,
        "penalties",
        [
            {
                "decision_no": f"P{i}",
                "uscc": code(2 + i % 4),
                "decided_on": D(2025, 10 + i % 3, 1),
                "authority": "局",
                "domain": "food",
                "kind": "fine" if i % 5 else "order_suspension",
                "amount": 12345.67 * i,
            }
            for i in range(12)
        ],
    )
    write_curated(
        lake,
        "abnormal_list",
        [{"record_id": "A1", "uscc": code(5), "listed_on": D(2025, 9, 1), "reason": "unreachable"}],
    )
    write_curated(
        lake,
        "serious_dishonesty_list",
        [{"record_id": "S1", "uscc": code(6), "listed_on": D(2024, 9, 1), "reason": "x"}],
    )
    write_curated(
        lake,
        "inspections",
        [
            {
                "inspection_id": f"I{i}",
                "uscc": code(7),
                "inspected_on": D(2026, 2, i + 1),
                "domain": "food",
                "result": "problem_found",
            }
            for i in range(2)
        ],
    )
    write_curated(
        lake,
        "complaints",
        [
            {
                "complaint_id": f"Q{i}",
                "uscc": code(8),
                "received_on": D(2026, 3, i + 1),
                "kind": "complaint",
                "substantiated": i % 2 == 0,
            }
            for i in range(6)
        ],
    )
    write_curated(
        lake,
        "relationships",
        [
            {
                "uscc": code(9),
                "party_id": f"p{i}",
                "relation": "shareholder",
                "since": D(2026, 1, 1),
                "until": D(2026, 3, 1) if i % 2 else None,
            }
            for i in range(4)
        ],
    )
    write_curated(
        lake,
        "other_dishonesty",
        [
            {
                "record_id": f"O{i}",
                "uscc": code(10),
                "recorded_on": D(2026, 4, 1),
                "category": "court_enforcement",
                "severity": "serious" if i == 0 else "general",
                "source": "法院",
            }
            for i in range(3)
        ],
    )


def test_samr_general_end_to_end(any_lake: Lake) -> None:
    seed_all_datasets(any_lake)
    result = classify_month(
        any_lake, month="2026-06", province="13", settings=settings_for(any_lake), cutoff=CUT
    )
    table = any_lake.read_parquet(layout.classification_key("2026-06", "13"))
    assert table.schema.equals(CLASSIFICATION_SCHEMA)
    assert table.num_rows == 21 == result.rows
    assert table.column("uscc").to_pylist() == sorted(table.column("uscc").to_pylist())
    rows = {r["uscc"]: r for r in table.to_pylist()}
    assert rows[code(21)]["risk_class"] == "D" and "D_LICENCE_REVOKED" in rows[code(21)]["rules"]
    assert rows[code(6)]["risk_class"] in ("C", "D") and rows[code(6)]["rules"] == ["C_SERIOUS_LIST"]
    for r in rows.values():
        assert 0 <= r["risk_score"] <= 100
        assert abs(sum(r["dimension_scores"].values()) - r["risk_score"]) < 1e-3
        pts = [x["points"] for x in r["reasons"]]
        assert pts == sorted(pts, reverse=True) and all(p > 0 for p in pts) and len(pts) <= 5
    # every dimension contributes somewhere
    for dim in ("basic", "dynamic", "regulatory", "relationship", "social"):
        assert any(r["dimension_scores"][dim] > 0 for r in rows.values()), dim
    m = any_lake.read_json(f"{layout.run_prefix(result.run_id)}/manifest.json")
    assert m["model"] == "samr-general@1.2" and len(m["model_hash"]) == 64
    assert m["cutoff"] == CUT.isoformat() and m["engine"] == "duckdb"
    assert sum(m["counts"].values()) == 21
    assert {i["dataset"] for i in m["inputs"]} == set(layout_datasets())
    assert all(len(i["sha256"]) == 64 and i["rows"] > 0 for i in m["inputs"])
    assert set(m["timings"]) >= {"compile_s", "engine_s", "total_s"}
    pointer = any_lake.read_json(layout.classification_pointer_key("2026-06", "13"))
    assert (
        pointer["run_id"] == result.run_id
        and pointer["rows"] == 21
        and pointer["model_hash"] == m["model_hash"]
    )


def layout_datasets() -> list[str]:
    from schemas.datasets import ENTITY_DATASETS

    # the roster is reference data: classification does not read it; the general system does not
    # read the professional fields' own datasets either (their systems do, docs/adr/0118)
    field_only = ("licences", "equipment", "product_checks")
    return [d for d in ENTITY_DATASETS if d not in field_only]


def test_same_cutoff_same_results(local_lake: Lake) -> None:
    seed_all_datasets(local_lake)
    s = settings_for(local_lake)
    r1 = classify_month(local_lake, month="2026-06", province="13", settings=s, cutoff=CUT)
    r2 = classify_month(local_lake, month="2026-06", province="13", settings=s, cutoff=CUT)
    t1 = local_lake.read_parquet(layout.run_classifications_key(r1.run_id)).drop_columns(["run_id"])
    t2 = local_lake.read_parquet(layout.run_classifications_key(r2.run_id)).drop_columns(["run_id"])
    assert r1.run_id != r2.run_id
    assert t1.equals(t2)
    # earlier runs stay for audit
    assert local_lake.exists(layout.run_classifications_key(r1.run_id))


def test_previous_class_comes_from_last_month(local_lake: Lake) -> None:
    write_curated(local_lake, "entities", [entity(1), entity(2)])
    write_curated(
        local_lake,
        "penalties",
        [
            {
                "decision_no": "P1",
                "uscc": code(1),
                "decided_on": D(2026, 5, 10),
                "authority": "局",
                "domain": "food",
                "kind": "fine",
            }
        ],
    )
    s = settings_for(local_lake)
    classify_month(
        local_lake, month="2026-05", province="13", system_id="langfang-public-credit", settings=s, cutoff=CUT
    )
    classify_month(
        local_lake, month="2026-06", province="13", system_id="langfang-public-credit", settings=s, cutoff=CUT
    )
    rows = {
        r["uscc"]: r for r in local_lake.read_parquet(layout.classification_key("2026-06", "13")).to_pylist()
    }
    assert rows[code(1)]["previous_class"] == "B"
    assert rows[code(2)]["previous_class"] == "A"


class FailingCopyLake(Lake):
    """A lake whose publish step fails (the injected failure)."""

    def copy(self, src_key: str, dst_key: str) -> None:
        raise StorageError("injected failure while publishing")


def test_failed_run_leaves_published_results_untouched(local_lake: Lake) -> None:
    write_curated(local_lake, "entities", [entity(1)])
    s = settings_for(local_lake)
    first = classify_month(local_lake, month="2026-06", province="13", settings=s, cutoff=CUT)
    key = layout.classification_key("2026-06", "13")
    before = local_lake.read_bytes(key)
    pointer = local_lake.read_json(layout.classification_pointer_key("2026-06", "13"))
    write_curated(local_lake, "entities", [entity(1), entity(2)], ingest_id="i2")
    failing = FailingCopyLake(local_lake.fs, local_lake.root, local_lake.uri)
    with pytest.raises(StorageError, match="injected"):
        classify_month(failing, month="2026-06", province="13", settings=s)
    assert local_lake.read_bytes(key) == before
    assert local_lake.read_json(layout.classification_pointer_key("2026-06", "13")) == pointer
    assert pointer["run_id"] == first.run_id
    runs = local_lake.list_dirs("results/runs")
    assert len(runs) == 2  # the failed run's output stays for audit, unpublished


def test_no_data_says_so(local_lake: Lake) -> None:
    with pytest.raises(NotFound, match="no curated entities for province 42"):
        classify_month(local_lake, month="2026-06", province="42", settings=settings_for(local_lake))
    assert classify_all(local_lake, month="2026-06", settings=settings_for(local_lake))["message"].startswith(
        "no province has curated data"
    )


def test_classify_all_reports_each_province(local_lake: Lake) -> None:
    write_curated(local_lake, "entities", [entity(1)])
    write_curated(local_lake, "penalties", [], province="42")
    assert provinces_with_data(local_lake) == ["13", "42"]
    summary = classify_all(local_lake, month="2026-06", settings=settings_for(local_lake))
    assert summary["provinces"]["13"]["status"] == "published"
    assert summary["provinces"]["42"]["status"] == "no_data"
    assert "no curated entities" in summary["provinces"]["42"]["message"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"month": "2026-13"}, "month"),
        ({"province": "99"}, "province"),
        ({"engine": "spark"}, "engine"),
        ({"cutoff": dt.datetime(2026, 1, 1)}, "cutoff"),
    ],
)
def test_bad_arguments(local_lake: Lake, kwargs: dict[str, Any], field: str) -> None:
    args: dict[str, Any] = {"month": "2026-06", "province": "13", **kwargs}
    with pytest.raises(InvalidInput) as err:
        classify_month(local_lake, settings=settings_for(local_lake), **args)
    assert err.value.field == field


def test_explain(local_lake: Lake) -> None:
    seed_all_datasets(local_lake)
    classify_month(local_lake, month="2026-06", province="13", settings=settings_for(local_lake), cutoff=CUT)
    info = explain(local_lake, code(21), "2026-06")
    assert info["risk_class"] == "D" and info["rules"] == ["D_LICENCE_REVOKED"]
    assert info["rule_labels"][0].startswith("营业执照被吊销")
    assert info["cutoff"] == CUT.isoformat()
    text = render(info)
    assert "class D" in text and "D_LICENCE_REVOKED" in text
    with pytest.raises(NotFound):
        explain(local_lake, code(99), "2026-06")
    with pytest.raises(NotFound):
        explain(local_lake, code(1), "2026-01")
    with pytest.raises(InvalidInput):
        explain(local_lake, "nonsense", "2026-06")


def test_register_lake_tables_for_ad_hoc_queries(local_lake: Lake) -> None:
    import duckdb

    write_curated(local_lake, "entities", [entity(1), entity(2)])
    con = duckdb.connect()
    names = register_lake_tables(con, local_lake)
    assert "curated_entities" in names and "classifications" in names
    assert con.sql("SELECT count(*) FROM curated_entities WHERE province = '13'").fetchall() == [(2,)]
    assert con.sql("SELECT count(*) FROM curated_penalties").fetchall() == [(0,)]
    con2 = duckdb.connect()
    register_lake_tables(con2, local_lake, province="42")
    assert con2.sql("SELECT count(*) FROM curated_entities").fetchall() == [(0,)]


def test_a_column_no_file_has_reads_as_typed_null(local_lake: Lake) -> None:
    """Files written before a contract column existed, or with another type (schema evolution),
    still read: the column NULL or cast to the contract's type; hive partitions stay text."""
    import duckdb

    from tests.classify_data import curated_table

    table = curated_table("penalties", [
        {"decision_no": "P1", "uscc": code(1), "decided_on": D(2026, 3, 1), "authority": "局",
         "domain": "food", "kind": "fine", "amount": 10.0},
    ], ingest_id="old", ingested_at=CUT)  # fmt: skip
    old = table.drop_columns(["withdrawn"])
    old = old.set_column(old.schema.get_field_index("amount"), "amount", pa.array([10], pa.int64()))
    local_lake.write_parquet(layout.curated_key("penalties", "13", "old"), old)
    con = duckdb.connect()
    register_lake_tables(con, local_lake, province="13")
    got = con.execute("SELECT withdrawn, amount, province, ingest FROM curated_penalties").fetchall()
    assert got == [(None, 10.0, "13", "old")]
    types = {row[0]: row[1] for row in con.execute("DESCRIBE curated_penalties").fetchall()}
    assert types["withdrawn"] == "BOOLEAN" and types["province"] == "VARCHAR"
    assert types["amount"] == "DOUBLE"  # an older file's integer column reads in the contract's type


@pytest.mark.parametrize(
    ("now", "month"),
    [
        (dt.datetime(2026, 6, 30, 18, 0, tzinfo=dt.UTC), "2026-06"),  # 02:00 on 1 July in China
        (dt.datetime(2026, 2, 28, 18, 0, tzinfo=dt.UTC), "2026-02"),
        (dt.datetime(2026, 12, 31, 18, 0, tzinfo=dt.UTC), "2026-12"),
        (dt.datetime(2026, 7, 1, 3, 0, tzinfo=dt.UTC), "2026-06"),  # a late retry the next day
    ],
)
def test_scheduled_month_is_previous_china_month(now: dt.datetime, month: str) -> None:
    assert previous_month_in(now, "Asia/Shanghai") == month


def test_skipping_the_dedup_for_single_ingests_changes_nothing(local_lake: Lake) -> None:
    from functions.classify.compile import compile_system
    from functions.classify.engine_duckdb import run_duckdb
    from functions.classify.load import load_system
    from schemas.datasets import DATASETS

    seed_all_datasets(local_lake)
    system = load_system("samr-general")
    args: dict[str, Any] = {"month": "2026-06", "province": "13", "cutoff": CUT, "run_id": "r"}
    windowed = compile_system(system, **args)
    direct = compile_system(system, **args, single_ingest=frozenset(DATASETS))
    assert "row_number()" in windowed.sql and "row_number()" not in direct.sql
    assert run_duckdb(local_lake, windowed).equals(run_duckdb(local_lake, direct))
