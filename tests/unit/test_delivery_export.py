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
from functions.errors import NotFound, StorageError
from functions.lake import Lake
from functions.objections import adjust
from functions.settings import Settings
from schemas.delivery import (
    EXPORT_COLUMNS,
    EXPORT_EVENT_SOURCE,
    EXPORT_FIELD_COLUMNS,
    EXPORT_LAYOUT,
    ExportManifest,
)
from schemas.fields import FIELD_NAMES, combine
from schemas.objections import Actor
from tests.sampling_data import publish, publish_field, results_table

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


def _fields(lake: Lake) -> dict[str, dict[str, str]]:
    """Food (every third entity) and drug (every fourth) published for the month; the other two
    fields are not. Classes vary so that the combination rule is not the identity."""
    codes = [r["uscc"] for r in _published(lake)]
    food = {c: "ABCD"[(i * 7) % 4] for i, c in enumerate(codes[::3])}
    drug = {c: "DCBA"[i % 4] for i, c in enumerate(codes[::4])}
    publish_field(lake, "food", MONTH, "42", food, run_id="run-42-food", row_group_size=4)
    publish_field(lake, "drug", MONTH, "42", drug, run_id="run-42-drug")
    return {"food": food, "drug": drug}


def test_every_field_has_its_class_and_sampling_class_columns_and_unpublished_ones_are_null(
    lake: Lake,
) -> None:
    """docs/adr/0160: the published field runs joined on the engine, the sampling class combining
    the class to use (an approved adjustment counts), every field's two columns always there."""
    fields = _fields(lake)
    food = fields["food"]
    # adjusted up to D: the field draw samples it in D, not in the stricter of model and field class
    higher = next(c for c, k in food.items() if k == "B" and _class_of(lake, c) != "D")
    a = adjust.propose(lake, higher, MONTH, "D", "核查", LI)
    adjust.decide(lake, MONTH, a.adjustment_id, WANG, approve=True)

    m = export_month(lake, MONTH, "42", settings=Settings(lake_uri=lake.uri))
    assert m.columns == list(EXPORT_COLUMNS) and set(EXPORT_FIELD_COLUMNS) <= set(m.columns)
    assert m.field_runs == {"food": "run-42-food", "drug": "run-42-drug"}
    table = pq.ParquetFile(lake.path(m.files[0].key)).read()
    assert table.column_names == list(EXPORT_COLUMNS)
    assert [(f.name, str(f.type)) for f in table.schema] == [
        (c, t) for c, t, _ in EXPORT_LAYOUT
    ]  # the contract
    got = table.to_pylist()
    for r in got:
        for name in FIELD_NAMES:
            want = fields.get(name, {}).get(r["uscc"])
            assert r[f"{name}_class"] == want
            assert r[f"{name}_sampling_class"] == (combine(r["class"], want) if want else None)
    adjusted = next(r for r in got if r["uscc"] == higher)
    assert (adjusted["adjusted"], adjusted["class"], adjusted["food_class"]) == (True, "D", "B")
    assert adjusted["food_sampling_class"] == "D" != combine(adjusted["model_class"], "B")
    inside = [r for r in got if r["food_class"]]
    assert any(r["food_sampling_class"] != r["food_class"] for r in inside)
    assert any(r["food_sampling_class"] != r["class"] for r in inside)
    assert all(
        r["special_equipment_class"] is None and r["industrial_product_sampling_class"] is None for r in got
    )

    raw = gzip.decompress(Path(lake.path(m.files[1].key)).read_bytes()).decode("utf-8")
    lines = list(csv.DictReader(io.StringIO(raw)))
    assert list(lines[0]) == list(EXPORT_COLUMNS)
    assert [r["food_class"] or None for r in lines] == [r["food_class"] for r in got]
    assert {r["drug_sampling_class"] for r in lines} > {""}  # null is an empty field, values too
    stored = lake.read_json(layout.delivery_key("42", MONTH, "manifest.json"))
    assert stored["field_runs"] == m.field_runs and stored["columns"] == list(EXPORT_COLUMNS)


def test_the_export_shows_what_the_bulk_read_shows_for_every_field(lake: Lake) -> None:
    """One rule for both deliveries (ADR 0156, 0160): each row's ``fields`` in the bulk read is its
    export columns, an absent key a field whose columns are null."""
    from functions.delivery import bulk
    from functions.delivery.cursor import cursor_signer

    food = _fields(lake)["food"]
    code = next(c for c, k in food.items() if k == "A" and _class_of(lake, c) != "D")
    a = adjust.propose(lake, code, MONTH, "D", "核查", LI)  # an approved adjustment counts in both
    adjust.decide(lake, MONTH, a.adjustment_id, WANG, approve=True)
    bulk.clear_cache()
    m = export_month(lake, MONTH, "42", settings=Settings(lake_uri=lake.uri))
    assert exported_row(lake, m, code)["food_sampling_class"] == "D"
    exported = {r["uscc"]: r for r in pq.ParquetFile(lake.path(m.files[0].key)).read().to_pylist()}
    signer = cursor_signer(Settings(lake_uri=lake.uri), lake)
    page = json.loads(
        bulk.page(lake, month=MONTH, province="42", cursor=None, limit=100, max_bytes=10**6, signer=signer)
    )
    assert page["field_runs"] == m.field_runs and len(page["rows"]) == len(exported) == 40
    for row in page["rows"]:
        e = exported[row["uscc"]]
        for name in FIELD_NAMES:
            shown = row["fields"].get(name)
            want = (
                None
                if shown is None
                else {"class": shown["class"], "sampling_class": shown["sampling_class"]}
            )
            cls, sampling = e[f"{name}_class"], e[f"{name}_sampling_class"]
            got = None if cls is None else {"class": cls, "sampling_class": sampling}
            assert got == want


def test_a_field_pointer_without_its_run_result_fails_the_export_naming_the_field(lake: Lake) -> None:
    lake.write_json(layout.field_classification_pointer_key("drug", MONTH, "42"), {"run_id": "gone-run"})
    with pytest.raises(StorageError, match=r"field drug's .*gone-run"):
        export_month(lake, MONTH, "42")
    assert not lake.exists(layout.delivery_key("42", MONTH, "manifest.json"))


def exported_row(lake: Lake, m: ExportManifest, code: str) -> dict[str, Any]:
    rows = pq.ParquetFile(lake.path(m.files[0].key)).read().to_pylist()
    return dict(next(r for r in rows if r["uscc"] == code))


def _class_of(lake: Lake, code: str) -> str:
    return str(next(r["risk_class"] for r in _published(lake) if r["uscc"] == code))


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
