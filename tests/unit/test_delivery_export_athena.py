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
from typing import Any, cast

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
from tests.sampling_data import publish, results_table

MONTH = "2026-10"
LI, WANG = Actor(kind="operator", id="li", name="li"), Actor(kind="operator", id="wang", name="wang")


class Guarded:
    """The lake as the function sees it; reading the published Parquet fails the test."""

    READS = ("download", "open_input_file", "read_parquet", "read_bytes", "read_tagged", "open_input_stream")

    def __init__(self, lake: Lake, key: str) -> None:
        self._lake, self._key = lake, key

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._lake, name)
        if name not in self.READS:
            return attr

        def guarded(key: str, *a: Any, **k: Any) -> Any:
            assert key != self._key, f"{key} was read by the function"
            return attr(key, *a, **k)

        return guarded


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
    return s3_lake


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
    guarded = cast(Lake, Guarded(lake, layout.classification_key(MONTH, "42")))
    m = export_month(guarded, MONTH, "42", settings=s3_settings, engine="athena", athena_runner=fake)
    assert (m.rows, m.changed, m.adjusted, m.run_id, m.columns) == (
        duck.rows,
        duck.changed,
        duck.adjusted,
        duck.run_id,
        duck.columns,
    )
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
