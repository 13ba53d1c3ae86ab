"""The ranked-ingest dedup (ADR 0036) and per-entity-type systems (ADR 0037) on DuckDB."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from functions import layout
from functions.classify.compile import compile_by_type, compile_system, datasets_read
from functions.classify.engine_duckdb import run_duckdb
from functions.classify.load import load_system
from functions.classify.run import assign_systems, classify_month, ingest_plan, input_files
from functions.errors import ConfigError, InvalidInput, StorageError
from functions.lake import Lake
from functions.settings import Settings
from tests.classify_data import code, curated_table, entity, write_curated

CUT = dt.datetime(2026, 7, 5, tzinfo=dt.UTC)
D = dt.date
T = dt.datetime
ARGS: dict[str, Any] = {"month": "2026-06", "province": "13", "cutoff": CUT, "run_id": "r"}
TYPES = ("enterprise", "individual", "cooperative")


def pen(n: int, owner: int, day: dt.date, kind: str = "fine", **over: Any) -> dict[str, Any]:
    row = {
        "decision_no": f"P{n}",
        "uscc": code(owner),
        "decided_on": day,
        "authority": "局",
        "domain": "food",
        "kind": kind,
        "amount": 1000.0 * n,
    }
    row.update(over)
    return row


def seed_versions(lake: Lake) -> None:
    """Three ingests of penalties: corrections move dates out of and into the period, withdraw,
    and one arrives after the cutoff; the two later ingests share an ``_ingested_at``."""
    write_curated(
        lake, "entities", [entity(i, entity_type=TYPES[i % 3]) for i in range(1, 13)], ingest_id="e1"
    )
    t1, t2 = T(2026, 2, 1, tzinfo=dt.UTC), T(2026, 7, 1, tzinfo=dt.UTC)
    first = [
        pen(i, 1 + i % 12, D(2026, 1 + i % 6, 2), "order_suspension" if i % 7 == 0 else "fine")
        for i in range(40)
    ]
    write_curated(lake, "penalties", first, ingest_id="i1", ingested_at=t1)
    write_curated(
        lake,
        "penalties",
        [pen(1, 2, D(2026, 7, 3)), pen(2, 3, D(2026, 3, 3), withdrawn=True), pen(100, 4, D(2026, 5, 5))],
        ingest_id="i2a",
        ingested_at=t2,
    )
    write_curated(
        lake,
        "penalties",
        [pen(2, 3, D(2026, 3, 3)), pen(3, 5, D(2025, 1, 1), "revoke_license")],
        ingest_id="i2b",
        ingested_at=t2,
    )
    write_curated(
        lake, "penalties", [pen(4, 6, D(2026, 6, 6), "order_closure")], ingest_id="i3",
        ingested_at=T(2026, 7, 9, tzinfo=dt.UTC),
    )  # fmt: skip


def test_ingest_plan_orders_by_time_then_id_and_stops_at_the_cutoff(local_lake: Lake) -> None:
    seed_versions(local_lake)
    inputs = input_files(local_lake, "13", ("entities", "penalties"))
    assert {f["ingest_id"] for f in inputs} == {"e1", "i1", "i2a", "i2b", "i3"}
    plan = ingest_plan(inputs, ("entities", "penalties"), CUT)
    assert plan == {"entities": ("e1",), "penalties": ("i1", "i2a", "i2b")}


@pytest.mark.parametrize("system_id", ["samr-general", "langfang-public-credit"])
def test_ranked_dedup_gives_the_rows_of_the_window(local_lake: Lake, system_id: str) -> None:
    seed_versions(local_lake)
    system = load_system(system_id)
    read = datasets_read(system)
    plan = ingest_plan(input_files(local_lake, "13", read), read, CUT)
    windowed = compile_system(system, **ARGS)
    ranked = compile_system(system, **ARGS, ingests=plan)
    assert "row_number()" in windowed.sql and "row_number()" not in ranked.sql
    expected = run_duckdb(local_lake, windowed)
    assert expected.num_rows == 12
    assert run_duckdb(local_lake, ranked).equals(expected)


def test_ingest_plan_skips_a_dataset_whose_file_mixes_ingests(local_lake: Lake) -> None:
    seed_versions(local_lake)
    table = pa.table(
        {
            "_ingest_id": ["x", "y"],
            "_ingested_at": pa.array([T(2026, 1, 1), T(2026, 1, 2)], pa.timestamp("us", tz="UTC")),
        }
    )
    local_lake.write_parquet(layout.curated_key("complaints", "13", "mixed"), table)
    inputs = input_files(local_lake, "13", ("complaints", "penalties"))
    assert "complaints" not in ingest_plan(inputs, ("complaints", "penalties"), CUT)


def test_the_ingest_of_a_file_written_without_text_statistics_is_read_from_its_column(
    local_lake: Lake,
) -> None:
    """Curated files written before ``_ingest_id`` statistics were kept still get the ranked
    dedup; a file whose column mixes ingests does not."""
    seed_versions(local_lake)
    rows = [
        {"complaint_id": f"C{i}", "uscc": code(1), "received_on": D(2026, 1, 2), "kind": "complaint"}
        for i in range(3)
    ]
    legacy = curated_table("complaints", rows, ingest_id="old", ingested_at=T(2026, 1, 1, tzinfo=dt.UTC))
    mixed = legacy.set_column(
        legacy.schema.get_field_index("_ingest_id"), "_ingest_id", pa.array(["old", "old", "other"])
    )
    for province, name, table in (("13", "old", legacy), ("14", "mixed", mixed)):
        buf = io.BytesIO()
        pq.write_table(table, buf, write_statistics=["_ingested_at"])
        local_lake.write_bytes(layout.curated_key("complaints", province, name), buf.getvalue())
    found = input_files(local_lake, "13", ("complaints",))
    assert [f["ingest_id"] for f in found] == ["old"]
    assert ingest_plan(found, ("complaints",), CUT) == {"complaints": ("old",)}
    assert [f["ingest_id"] for f in input_files(local_lake, "14", ("complaints",))] == [None]


def _report(lake: Lake, dataset: str, ingest_id: str, **over: Any) -> None:
    """The ingest report ingestion leaves beside a curated file (``curated_sha256``/``_bytes``)."""
    key = layout.curated_key(dataset, "13", ingest_id)
    data = lake.read_bytes(key)
    report = {
        "ingest_id": ingest_id,
        "source_key": f"incoming/13/{dataset}/f.csv",
        "province": "13",
        "dataset": dataset,
        "size": 1,
        "sha256": "0" * 64,
        "status": "accepted",
        "ingested_at": "2026-07-01T00:00:00Z",
        "curated_key": key,
        "curated_sha256": hashlib.sha256(data).hexdigest(),
        "curated_bytes": len(data),
    }
    report.update(over)
    lake.write_json(layout.ingest_report_key("13", dataset, ingest_id), report)


def test_input_digests_come_from_the_ingest_reports_else_from_the_files(local_lake: Lake) -> None:
    """The run names each input by the sha256 ingestion recorded (no second read of the data);
    a file without a recorded digest is hashed; either way the digest is the file's."""
    seed_versions(local_lake)
    _report(local_lake, "penalties", "i1")
    _report(local_lake, "penalties", "i2a", curated_sha256=None)  # a report from before digests
    found = {f["ingest_id"]: f for f in input_files(local_lake, "13", ("entities", "penalties"))}
    sources = {i: f["digest_source"] for i, f in found.items()}
    assert sources == {"e1": "computed", "i1": "ingest_report", "i2a": "computed", "i2b": "computed",
                       "i3": "computed"}  # fmt: skip
    for f in found.values():
        assert f["sha256"] == hashlib.sha256(local_lake.read_bytes(f["key"])).hexdigest()
    # a recorded digest is what the run reports, so a report that lies is visible as such
    _report(local_lake, "penalties", "i1", curated_sha256="f" * 64)
    again = {f["ingest_id"]: f for f in input_files(local_lake, "13", ("penalties",))}
    assert again["i1"]["sha256"] == "f" * 64 and again["i1"]["digest_source"] == "ingest_report"


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"curated_bytes": 5}, "has .* bytes but ingestion wrote 5: it was changed after ingestion"),
        ({"status": "exploded"}, "ingest report .* cannot be read"),
    ],
)
def test_a_curated_file_that_no_longer_matches_its_ingest_report_stops_the_run(
    local_lake: Lake, over: dict[str, Any], message: str
) -> None:
    seed_versions(local_lake)
    _report(local_lake, "penalties", "i1", **over)
    with pytest.raises(StorageError, match=message):
        input_files(local_lake, "13", ("penalties",))


def mixed_province(lake: Lake) -> None:
    ents = [entity(i, entity_type=TYPES[i % 3]) for i in range(1, 31)]
    ents.append(entity(31, entity_type="individual", status="revoked", status_changed_on=D(2026, 1, 1)))
    write_curated(lake, "entities", ents)
    write_curated(
        lake,
        "penalties",
        [
            pen(i, 1 + i % 31, D(2026, 1 + i % 6, 2), "order_suspension" if i % 5 == 0 else "fine")
            for i in range(90)
        ],
    )


def test_each_entity_type_is_classified_by_its_own_system_into_one_partition(local_lake: Lake) -> None:
    mixed_province(local_lake)
    settings = Settings(lake_uri=local_lake.uri)
    result = classify_month(
        local_lake, month="2026-06", province="13", cutoff=CUT, settings=settings,
        systems={"individual": "langfang-public-credit"},
    )  # fmt: skip
    published = local_lake.read_parquet(layout.classification_key("2026-06", "13"))
    assert published.num_rows == 31 == result.rows
    rows = published.to_pylist()
    assert [r["uscc"] for r in rows] == sorted(r["uscc"] for r in rows)
    langfang, general = load_system("langfang-public-credit"), load_system("samr-general")
    for r in rows:
        expected = langfang if r["entity_type"] == "individual" else general
        assert r["model"] == expected.model_ref
    assert result.manifest["models"] == {
        "enterprise": general.model_ref,
        "individual": langfang.model_ref,
        "cooperative": general.model_ref,
    }
    assert set(result.manifest["model_hashes"]) == {general.model_ref, langfang.model_ref}
    # each part is exactly what its system alone gives for those types
    for system, types in ((general, ("enterprise", "cooperative")), (langfang, ("individual",))):
        alone = run_duckdb(local_lake, compile_system(system, **ARGS, entity_types=types)).to_pylist()
        mine = [{**r, "run_id": "r"} for r in rows if r["entity_type"] in types]
        assert mine == [{**r, "run_id": "r"} for r in alone]
    revoked = next(r for r in rows if r["uscc"] == code(31))
    assert revoked["risk_class"] == "D" and revoked["model"] == langfang.model_ref


def test_settings_mapping_applies_and_the_argument_wins(local_lake: Lake) -> None:
    mixed_province(local_lake)
    settings = Settings(lake_uri=local_lake.uri, class_systems={"cooperative": "langfang-public-credit"})
    result = classify_month(
        local_lake, month="2026-06", province="13", cutoff=CUT, settings=settings,
        systems={"cooperative": "samr-general", "individual": "langfang-public-credit"},
    )  # fmt: skip
    assert result.manifest["models"]["cooperative"].startswith("samr-general@")
    assert result.manifest["models"]["individual"].startswith("langfang-public-credit@")


def test_one_system_for_all_types_compiles_as_before() -> None:
    system = load_system("samr-general")
    by_type = compile_by_type(assign_systems(system, {}), **ARGS)
    assert by_type.sql == compile_system(system, **ARGS).sql


@pytest.mark.parametrize(
    ("mapping", "error", "message"),
    [
        ({"company": "samr-general"}, InvalidInput, "unknown entity type"),
        ({"individual": "nope"}, ConfigError, "unknown indicator system 'nope'"),
    ],
)
def test_bad_mappings_are_clear_errors(mapping: dict[str, str], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        assign_systems(load_system("samr-general"), mapping)
