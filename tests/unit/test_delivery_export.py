"""The monthly export per province (issue 14, docs/adr/0122): Parquet and CSV.gz with the
platform's columns, approved adjustments applied (model class kept), changes flagged, the
manifest written last and announced with the manifest as detail."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from functions import layout
from functions.delivery.announce import announce
from functions.delivery.export import export_month
from functions.errors import NotFound
from functions.lake import Lake
from functions.objections import adjust
from functions.settings import Settings
from schemas.delivery import EXPORT_COLUMNS, EXPORT_EVENT_SOURCE, ExportManifest
from schemas.objections import Actor
from tests.sampling_data import publish, results_table

MONTH = "2026-10"
LI, WANG = Actor(kind="operator", id="li", name="li"), Actor(kind="operator", id="wang", name="wang")


@pytest.fixture
def lake(local_lake: Lake) -> Lake:
    t = results_table("42", 40, run_id="run-42")
    prev = [None if i % 5 == 0 else ("A" if i % 2 else c) for i, c in enumerate(t["risk_class"].to_pylist())]
    t = t.set_column(
        t.schema.get_field_index("previous_class"), "previous_class", pa.array(prev, pa.string())
    )
    publish(local_lake, t, MONTH, "42")
    publish(local_lake, results_table("23", 10, run_id="run-23"), MONTH, "23")
    return local_lake


def _published(lake: Lake) -> list[dict[str, Any]]:
    return sorted(
        lake.read_parquet(layout.classification_key(MONTH, "42")).to_pylist(), key=lambda r: r["uscc"]
    )


def test_the_export_holds_every_entity_with_the_platform_columns(lake: Lake, tmp_path: Path) -> None:
    rows = _published(lake)
    target = rows[3]
    to = "D" if target["risk_class"] != "D" else "A"
    a = adjust.propose(lake, target["uscc"], MONTH, to, "核查后调整", LI)
    adjust.decide(lake, MONTH, a.adjustment_id, WANG, approve=True)

    m = export_month(lake, MONTH, "42", settings=Settings(lake_uri=lake.uri))
    assert (m.rows, m.run_id, m.adjusted) == (40, "run-42", 1)
    want_changed = [r["previous_class"] is None or r["previous_class"] != r["risk_class"] for r in rows]
    assert m.changed == sum(want_changed) and 0 < m.changed < 40
    assert [f.key for f in m.files] == [
        "delivery/42/month=2026-10/classifications.parquet",
        "delivery/42/month=2026-10/classifications.csv.gz",
    ]
    table = pq.ParquetFile(lake.path(m.files[0].key)).read()
    assert table.column_names == list(EXPORT_COLUMNS) == m.columns
    got = table.to_pylist()
    assert [r["uscc"] for r in got] == [r["uscc"] for r in rows]
    assert [r["changed"] for r in got] == want_changed
    assert [r["model_class"] for r in got] == [r["risk_class"] for r in rows]
    assert (got[3]["class"], got[3]["model_class"], got[3]["adjusted"], got[3]["adjustment_id"]) == (
        to, target["risk_class"], True, a.adjustment_id)  # fmt: skip
    assert all(r["class"] == r["model_class"] and not r["adjusted"] for i, r in enumerate(got) if i != 3)

    raw = Path(lake.path(m.files[1].key)).read_bytes()
    assert hashlib.sha256(raw).hexdigest() == m.files[1].sha256 and m.files[1].bytes == len(raw)
    lines = list(csv.DictReader(io.StringIO(gzip.decompress(raw).decode("utf-8"))))
    assert [r["uscc"] for r in lines] == [r["uscc"] for r in rows] and lines[3]["class"] == to
    assert lines[0]["name"] == rows[0]["name"]  # UTF-8 names survive
    stored = ExportManifest.model_validate(lake.read_json(layout.delivery_key("42", MONTH, "manifest.json")))
    assert stored == m
    assert not lake.exists(layout.delivery_key("23", MONTH, "manifest.json"))  # one province only

    events = tmp_path / "events.jsonl"
    assert announce(m, Settings(lake_uri=lake.uri, delivery_events_file=str(events))) is None
    line = json.loads(events.read_text(encoding="utf-8"))
    assert line["source"] == EXPORT_EVENT_SOURCE and line["detail"]["province"] == "42"
    assert line["detail"]["files"][0]["sha256"] == m.files[0].sha256


def test_field_classes_are_exported_when_the_results_have_them(local_lake: Lake) -> None:
    t = results_table("42", 5, run_id="run-f")
    t = t.append_column("food_class", pa.array(["B", None, "A", "C", None], pa.string()))
    publish(local_lake, t, MONTH, "42")
    m = export_month(local_lake, MONTH, "42")
    assert m.columns == [*EXPORT_COLUMNS, "food_class"]
    got = pq.ParquetFile(local_lake.path(m.files[0].key)).read().to_pylist()
    by = {r["uscc"]: r["food_class"] for r in t.to_pylist()}
    assert [r["food_class"] for r in got] == [by[r["uscc"]] for r in got]


def test_an_unpublished_month_is_not_exported_and_a_failed_announcement_is_returned(lake: Lake) -> None:
    with pytest.raises(NotFound):
        export_month(lake, "2026-09", "42")
    m = export_month(lake, MONTH, "23")

    class Refusing:
        def put_events(self, **kw: Any) -> dict[str, Any]:
            assert kw["Entries"][0]["Source"] == EXPORT_EVENT_SOURCE
            return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "AccessDenied", "ErrorMessage": "no"}]}

    error = announce(m, Settings(delivery_events_bus="default"), client=Refusing())
    assert error is not None and "AccessDenied" in error
