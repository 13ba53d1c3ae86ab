"""The monthly export on Athena (ADR 0152): Parquet and CSV.gz parts written by Athena's UNLOAD
from the published partition, copied under the province's delivery prefix, each listed in the
manifest with its size and the SHA-256 of its bytes; nothing of the province is read by the
function (a lake that fails any read of the published Parquet proves it). The rows are those of
the DuckDB path's export, and the CSV parts, header part first, concatenate to its CSV."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from typing import cast

import pyarrow as pa
import pytest

from functions import layout
from functions.classify.engine_athena import check_statement
from functions.delivery.export import export_month
from functions.errors import EngineError
from functions.lake import Lake
from functions.objections import adjust
from functions.settings import Settings
from schemas.delivery import EXPORT_COLUMNS
from schemas.objections import Actor
from tests.athena_fake import TableAthena
from tests.guarded_lake import GuardedLake
from tests.sampling_data import publish, publish_field, results_table

MONTH = "2026-10"
LI, WANG = Actor(kind="operator", id="li", name="li"), Actor(kind="operator", id="wang", name="wang")


@pytest.fixture
def lake(s3_lake: Lake) -> Lake:
    t = results_table("42", 40, run_id="run-42")
    prev = [None if i % 5 == 0 else ("A" if i % 2 else c) for i, c in enumerate(t["risk_class"].to_pylist())]
    names = t["name"].to_pylist()
    names[1], names[2], names[3] = '某"记"商行', "甲,乙 合伙", "多行\n名称"  # quoting cases
    t = t.set_column(
        t.schema.get_field_index("previous_class"), "previous_class", pa.array(prev, pa.string())
    )
    t = t.set_column(t.schema.get_field_index("name"), "name", pa.array(names, pa.string()))
    publish(s3_lake, t, MONTH, "42", sampling_copy=False, with_roster=False)
    codes = t["uscc"].to_pylist()
    publish_field(s3_lake, "food", MONTH, "42", {c: "ABCD"[(i * 7) % 4] for i, c in enumerate(codes[::3])},
                  run_id="run-42-food")  # fmt: skip
    publish_field(s3_lake, "drug", MONTH, "42", {c: "DCBA"[i % 4] for i, c in enumerate(codes[::4])},
                  run_id="run-42-drug")  # fmt: skip
    return s3_lake


def _guarded(lake: Lake) -> Lake:
    keys = [layout.classification_key(MONTH, "42")]
    for field, run in (("food", "run-42-food"), ("drug", "run-42-drug")):
        keys += [layout.field_result_key(run), layout.field_classification_key(field, MONTH, "42")]
    return cast(Lake, GuardedLake.of_keys(lake, *keys))


def test_athena_writes_the_export_the_duckdb_path_writes(lake: Lake, s3_settings: Settings) -> None:
    rows = sorted(
        lake.read_parquet(layout.classification_key(MONTH, "42")).to_pylist(), key=lambda r: r["uscc"]
    )
    a = adjust.propose(lake, rows[3]["uscc"], MONTH, "D" if rows[3]["risk_class"] != "D" else "A", "核查", LI)
    adjust.decide(lake, MONTH, a.adjustment_id, WANG, approve=True)
    duck = export_month(lake, MONTH, "42", settings=s3_settings)
    duck_parquet = lake.read_parquet(duck.files[0].key)
    duck_csv = gzip.decompress(lake.read_bytes(duck.files[1].key)).decode()

    fake = TableAthena(lake, unload_files=3)
    m = export_month(_guarded(lake), MONTH, "42", settings=s3_settings, engine="athena", athena_runner=fake)
    assert (m.rows, m.changed, m.adjusted, m.run_id, m.columns, m.field_runs) == (
        duck.rows,
        duck.changed,
        duck.adjusted,
        duck.run_id,
        duck.columns,
        duck.field_runs,
    )
    assert m.field_runs == {"food": "run-42-food", "drug": "run-42-drug"}
    unloads = fake.statements("UNLOAD")
    assert len(unloads) == 3 and "format = 'TEXTFILE', compression = 'GZIP'" in unloads[2]
    assert not lake.list_files(layout.athena_unload_prefix(""), include_hidden=True)  # scratch emptied
    prefix = layout.delivery_prefix("42", MONTH)
    assert all(f.key.startswith(prefix + "/") for f in m.files)  # the platform role's prefix only
    for f in m.files:  # every part listed with its size and hash
        data = lake.read_bytes(f.key)
        assert (f.bytes, f.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    parquet = [f for f in m.files if f.format == "parquet"]
    text = [f for f in m.files if f.format == "csv.gz"]
    assert len(parquet) == 3 and len(text) == 4 and text[0].key.endswith("header.csv.gz")

    got = pa.concat_tables([lake.read_parquet(f.key) for f in parquet]).sort_by("uscc")
    assert got.column_names == list(EXPORT_COLUMNS)
    assert got.to_pylist() == duck_parquet.to_pylist()
    assert got.schema.types == duck_parquet.schema.types  # the same layout, unpublished fields' columns typed
    rows_out = got.to_pylist()  # the fields are there, in and outside their populations
    assert {r["food_class"] for r in rows_out} > {None} and {r["drug_sampling_class"] for r in rows_out} > {
        None
    }
    assert all(r["special_equipment_class"] is None for r in rows_out)
    # header part first, then the parts: one gzip stream once concatenated (multi-member gzip)
    joined = gzip.decompress(b"".join(lake.read_bytes(f.key) for f in text)).decode()
    athena_rows = list(csv.reader(io.StringIO(joined)))
    duck_rows = list(csv.reader(io.StringIO(duck_csv)))
    assert athena_rows[0] == duck_rows[0] == list(EXPORT_COLUMNS)
    assert sorted(athena_rows[1:]) == sorted(duck_rows[1:]) and len(athena_rows) == 41
    assert sorted(joined.splitlines()[1:]) == sorted(duck_csv.splitlines()[1:])  # same CSV text
    assert lake.read_json(layout.delivery_key("42", MONTH, "manifest.json"))["files"][0]["key"] == text[0].key


def test_a_leftover_export_scratch_is_refused_before_any_statement(lake: Lake, s3_settings: Settings) -> None:
    lake.write_bytes(f"{layout.athena_unload_prefix('export-42-' + MONTH)}/csv/old", b"x")
    fake = TableAthena(lake)
    with pytest.raises(EngineError, match="not empty"):
        export_month(lake, MONTH, "42", settings=s3_settings, engine="athena", athena_runner=fake)
    assert not fake.submitted


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("UNLOAD (\nSELECT 1\n) TO 's3://b/u/' WITH (format = 'CSV')", "writes only"),
        ("UNLOAD (\nSELECT 1\n) TO 's3://b/u' WITH (format = 'PARQUET')", "folder"),
        ("UNLOAD (\nSELECT 1\n) TO 's3://b/u/' WITH (format = 'PARQUET', compression = 'LZ4')", "LZ4"),
        ("UNLOAD (\nSELECT 1\n) TO 's3://b/u/'", "must end with"),
    ],
)
def test_an_unload_athena_cannot_write_is_never_sent(sql: str, message: str) -> None:
    with pytest.raises(EngineError, match=message):
        check_statement(sql)


def test_the_statements_sent_pass_the_checks() -> None:
    from functions.classify.engine_athena import unload_statement

    check_statement(unload_statement("SELECT 1", "s3://b/u/", partitioned=True), partitions=1)
    check_statement(
        "UNLOAD (\nSELECT 'a' AS line\n) TO 's3://b/u/' WITH (format = 'TEXTFILE', compression = 'GZIP')"
    )


def test_a_field_partition_not_holding_its_pointers_run_fails_the_export(
    lake: Lake, s3_settings: Settings
) -> None:
    """The field side is pinned by the pointer's run id; a partition re-published under the export
    (the pointer not yet moved) would give null classes: Athena counts the pinned rows first."""
    pointer = layout.field_classification_pointer_key("food", MONTH, "42")
    lake.write_json(pointer, {**lake.read_json(pointer), "run_id": "run-42-food-2"})
    fake = TableAthena(lake)
    with pytest.raises(
        EngineError, match=r"field food's published partition holds 0 rows of run run-42-food-2"
    ):
        export_month(lake, MONTH, "42", settings=s3_settings, engine="athena", athena_runner=fake)
    assert not lake.exists(layout.delivery_key("42", MONTH, "manifest.json"))
    assert not lake.list_files(layout.athena_unload_prefix(""), include_hidden=True)  # scratch emptied
    assert len(fake.statements("UNLOAD")) == 1  # the summary only


def test_a_field_run_id_is_checked_before_it_is_inlined(lake: Lake, s3_settings: Settings) -> None:
    pointer = layout.field_classification_pointer_key("drug", MONTH, "42")
    lake.write_json(pointer, {"run_id": "x' OR '1'='1"})
    fake = TableAthena(lake)
    with pytest.raises(EngineError, match="unexpected field run id"):
        export_month(lake, MONTH, "42", settings=s3_settings, engine="athena", athena_runner=fake)
    assert not fake.submitted
