"""The bulk read and change feed: every row once, in order, by row position from the Parquet
partition; signed cursors bound to province, month, feed and run (issue 14, ADR 0114)."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pytest

from functions.delivery import bulk
from functions.delivery.bulk import clear_cache as clear_bulk
from functions.delivery.cursor import DOMAIN, _unb64, clear_cache, cursor_signer
from functions.errors import Conflict, InvalidInput, NotFound
from functions.lake import Lake
from functions.sampling.signing import KmsSigner
from functions.settings import Settings
from tests.sampling_data import FakeKms, changed_table, publish, results_table

MONTH = "2026-10"


@pytest.fixture
def table() -> pa.Table:
    return changed_table()


@pytest.fixture
def lake(local_lake: Lake, table: pa.Table) -> Lake:
    clear_cache()
    publish(local_lake, table, MONTH, "42", row_group_size=37)  # pages straddle row groups
    return local_lake


def _page(lake: Lake, cursor: str | None = None, **kw: Any) -> dict[str, Any]:
    signer = cursor_signer(Settings(lake_uri=lake.uri), lake)  # the local lake's own key
    args = {"month": MONTH, "province": "42", "cursor": cursor, "limit": 50, "max_bytes": 10**6,
            "signer": signer}  # fmt: skip
    args.update(kw)
    out: dict[str, Any] = json.loads(bulk.page(lake, **args))
    return out


def _all(lake: Lake, **kw: Any) -> tuple[list[dict[str, Any]], int]:
    rows, cursor, pages = [], None, 0
    while True:
        body = _page(lake, cursor, **kw)
        rows += body["rows"]
        pages += 1
        cursor = body["next_cursor"]
        assert body["has_more"] == (cursor is not None)
        if cursor is None:
            return rows, pages


def test_pages_return_every_row_once_in_order(lake: Lake, table: pa.Table) -> None:
    rows, pages = _all(lake)
    assert [r["uscc"] for r in rows] == table["uscc"].to_pylist()
    assert [r["model_class"] for r in rows] == table["risk_class"].to_pylist()
    assert [r["name"] for r in rows] == table["name"].to_pylist()
    assert pages == 11 and all(r["class"] == r["model_class"] and not r["adjusted"] for r in rows)
    first = _page(lake)
    assert first["total"] == 503 and first["run_id"] == "run-1" and len(first["rows"]) == 50


def test_the_change_feed_holds_exactly_the_changed_and_new_entities(lake: Lake, table: pa.Table) -> None:
    want = [
        r["uscc"]
        for r in table.to_pylist()
        if r["previous_class"] is None or r["previous_class"] != r["risk_class"]
    ]
    rows, _ = _all(lake, changes_only=True)
    assert [r["uscc"] for r in rows] == want and 0 < len(want) < 503
    assert all(r["changed"] for r in rows)


def test_a_small_answer_budget_gives_shorter_pages_and_loses_nothing(lake: Lake, table: pa.Table) -> None:
    first = _page(lake, max_bytes=1024 + 2000)
    assert 0 < len(first["rows"]) < 50
    rows, _ = _all(lake, max_bytes=1024 + 2000)
    assert [r["uscc"] for r in rows] == table["uscc"].to_pylist()


def test_a_tampered_or_foreign_cursor_is_refused(lake: Lake, local_lake: Lake, table: pa.Table) -> None:
    cursor = _page(lake)["next_cursor"]
    body, mac = cursor.split(".")
    import base64

    raw = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw["o"] = 0
    tampered = (
        base64.urlsafe_b64encode(json.dumps(raw, separators=(",", ":"), sort_keys=True).encode())
        .decode()
        .rstrip("=")
    )
    for bad in (f"{tampered}.{mac}", cursor[:-2], "garbage", cursor + "x"):
        with pytest.raises(InvalidInput, match="cursor"):
            _page(lake, bad)
    with pytest.raises(InvalidInput, match="cursor"):
        _page(lake, cursor, changes_only=True)  # another feed
    publish(local_lake, results_table("23", 10, run_id="run-23"), MONTH, "23")
    with pytest.raises(InvalidInput, match="cursor"):
        _page(lake, cursor, province="23")


def test_a_month_republished_while_paging_is_a_conflict(lake: Lake, table: pa.Table) -> None:
    cursor = _page(lake)["next_cursor"]
    republished = table.set_column(
        table.schema.get_field_index("run_id"), "run_id", pa.array(["run-2"] * 503)
    )
    publish(lake, republished, MONTH, "42")
    with pytest.raises(Conflict, match="re-published"):
        _page(lake, cursor)


def test_an_unpublished_month_is_not_found(lake: Lake) -> None:
    with pytest.raises(NotFound):
        _page(lake, month="2026-09")


@pytest.mark.parametrize("odd", ['引号"与\\反斜杠', "控制\x01字符\n", "emoji 🏭 厂"])
def test_names_are_escaped_as_json(local_lake: Lake, odd: str) -> None:
    t = results_table("42", 5, run_id="run-1")
    names = [odd, *t["name"].to_pylist()[1:]]
    publish(local_lake, t.set_column(t.schema.get_field_index("name"), "name", pa.array(names)), MONTH, "42")
    assert [r["name"] for r in _page(local_lake)["rows"]] == names


def test_in_aws_cursors_are_macs_of_the_kms_key_and_nothing_is_kept_in_the_lake(lake: Lake) -> None:
    """ADR 0121: KMS GenerateMac/VerifyMac (the audit chain's key, a cursor domain tag); a cursor
    of the local key is refused by the KMS signer and the lake holds no cursor key."""
    kms = FakeKms()
    signer = KmsSigner(kms, "alias/creditrisk-audit")
    first = _page(lake, signer=signer)
    second = _page(lake, first["next_cursor"], signer=signer)
    assert second["rows"][0]["uscc"] == _page(lake, limit=51)["rows"][50]["uscc"]
    mac = "generate_mac alias/creditrisk-audit HMAC_SHA_256"
    assert kms.calls[:3] == [mac, "verify_mac alias/creditrisk-audit", mac]
    with pytest.raises(InvalidInput, match="cursor"):
        _page(lake, _page(lake)["next_cursor"], signer=signer)  # signed by the local key
    body = first["next_cursor"].split(".")[0]
    assert not kms.inner.verify(DOMAIN, "") and signer.verify(DOMAIN + _unb64(body), _unb64(
        first["next_cursor"].split(".")[1]).decode())  # fmt: skip
    assert not [f.key for f in lake.list_files("_auth") if "cursor" in f.key]


def test_the_change_feed_reads_the_changes_file_written_at_publish(lake: Lake, table: pa.Table) -> None:
    """ADR 0121: the feed pages through the run's changed rows file; without one (a run published
    before it) it scans the partition, with the same rows; cursors do not cross the two."""
    from functions import layout
    from functions.delivery.changes import write_changes

    key = layout.changes_key(MONTH, "42", "run-1")
    stored = lake.read_parquet(key)
    rows = table.to_pylist()
    want = [r["uscc"] for r in rows if r["previous_class"] is None or r["previous_class"] != r["risk_class"]]
    assert stored["uscc"].to_pylist() == want
    from_file, pages = _all(lake, changes_only=True)
    assert [r["uscc"] for r in from_file] == want and pages == -(-len(want) // 50)
    file_cursor = _page(lake, changes_only=True)["next_cursor"]
    lake.delete(key)
    clear_bulk()
    scanned, _ = _all(lake, changes_only=True)
    assert scanned == from_file
    scan_cursor = _page(lake, changes_only=True)["next_cursor"]
    with pytest.raises(InvalidInput, match="cursor"):
        _page(lake, file_cursor, changes_only=True)
    assert write_changes(lake, MONTH, "42", "run-1") == len(want)
    with pytest.raises(InvalidInput, match="cursor"):
        _page(lake, scan_cursor, changes_only=True)


# -- field classes beside the general class (docs/adr/0156) -------------------------------------
FIELD_RUN = "field-food-1"


def _publish_food(lake: Lake, table: pa.Table) -> dict[str, str]:
    """Every third entity is in the food population, with a field class; the run's result is
    written in small row groups so that a page's codes bracket only a few of them."""
    import io

    import pyarrow.parquet as pq

    from functions import layout

    codes = table["uscc"].to_pylist()[::3]
    classes = ["ABCD"[(i * 7) % 4] for i in range(len(codes))]
    buf = io.BytesIO()
    pq.write_table(pa.table({"uscc": codes, "risk_class": classes}), buf, row_group_size=11)
    lake.write_bytes(layout.field_result_key(FIELD_RUN), buf.getvalue())
    lake.write_json(layout.field_classification_pointer_key("food", MONTH, "42"), {"run_id": FIELD_RUN})
    clear_bulk()
    return dict(zip(codes, classes, strict=True))


def _adjust(lake: Lake, changes: dict[str, str]) -> None:
    from functions import layout

    lake.write_json(
        layout.adjustments_index_key(MONTH, "42"),
        {"adjustments": {c: {"adjusted_class": k} for c, k in changes.items()}},
    )


def test_rows_carry_each_published_fields_class_and_sampling_class(lake: Lake, table: pa.Table) -> None:
    from schemas.fields import combine

    food = _publish_food(lake, table)
    rows, pages = _all(lake)  # a cursor walk across the field result's row groups
    assert pages == 11 and [r["uscc"] for r in rows] == table["uscc"].to_pylist()
    assert _page(lake)["field_runs"] == {"food": FIELD_RUN}
    for r in rows:
        assert set(r["fields"]) == {"food"}  # fields not published this month are not listed
        want = food.get(r["uscc"])
        got = r["fields"]["food"]
        if want is None:
            assert got is None  # outside the field's population
        else:
            assert got == {"class": want, "sampling_class": combine(r["class"], want)}
    inside = [r for r in rows if r["fields"]["food"]]
    # the rule is not the identity on either side in this data
    assert any(r["fields"]["food"]["sampling_class"] != r["fields"]["food"]["class"] for r in inside)
    assert any(r["fields"]["food"]["sampling_class"] != r["class"] for r in inside)


def test_an_adjusted_entitys_field_sampling_class_combines_the_adjusted_class(
    lake: Lake, table: pa.Table
) -> None:
    food = _publish_food(lake, table)
    lower = next(c for c, k in food.items() if k == "C")  # adjusted down to A: field class C rules
    higher = next(c for c, k in food.items() if k == "B")  # adjusted up to D: D rules
    _adjust(lake, {lower: "A", higher: "D"})
    rows = {r["uscc"]: r for r in _all(lake)[0]}
    assert rows[lower]["class"] == "A" and rows[lower]["fields"]["food"] == {
        "class": "C",
        "sampling_class": "C",
    }
    assert rows[higher]["class"] == "D" and rows[higher]["fields"]["food"] == {
        "class": "B",
        "sampling_class": "D",
    }


def test_the_change_feed_carries_the_field_classes(lake: Lake, table: pa.Table) -> None:
    food = _publish_food(lake, table)
    rows, _ = _all(lake, changes_only=True)
    assert rows and all((r["fields"]["food"] or {}).get("class") == food.get(r["uscc"]) for r in rows)
    assert any(r["fields"]["food"] is None for r in rows) and any(r["fields"]["food"] for r in rows)


def test_a_page_reads_only_the_field_row_groups_of_its_codes(lake: Lake, table: pa.Table) -> None:
    """Never a whole field partition: only the row groups whose uscc range meets the page's."""
    import pyarrow.parquet as pq

    from functions import layout

    _publish_food(lake, table)
    page = _page(lake, limit=20)
    codes = [r["uscc"] for r in page["rows"]]
    with lake.open_input_file(layout.field_result_key(FIELD_RUN)) as f:
        md = pq.ParquetFile(f).metadata
    groups = [md.row_group(i).column(0).statistics for i in range(md.num_row_groups)]
    meeting = {i for i, s in enumerate(groups) if any(s.min <= c <= s.max for c in codes)}
    read = {k[2] for k in bulk._groups._d if k[1] == FIELD_RUN}
    assert read == meeting and 0 < len(read) < md.num_row_groups // 4


def test_the_answer_budget_counts_the_field_classes(lake: Lake, table: pa.Table) -> None:
    signer = cursor_signer(Settings(lake_uri=lake.uri), lake)
    plain = bulk.page(
        lake, month=MONTH, province="42", cursor=None, limit=5000, max_bytes=4000, signer=signer
    )
    _publish_food(lake, table)
    wide = bulk.page(lake, month=MONTH, province="42", cursor=None, limit=5000, max_bytes=4000, signer=signer)
    # the Lambda proxy answer holds the body JSON-escaped again
    assert len(json.dumps(wide).encode()) <= 4000 and len(json.dumps(plain).encode()) <= 4000
    assert 0 < len(json.loads(wide)["rows"]) < len(json.loads(plain)["rows"])
    rows, _ = _all(lake, max_bytes=4000)
    assert [r["uscc"] for r in rows] == table["uscc"].to_pylist()


def test_a_field_pointer_without_its_run_result_is_a_storage_error_naming_the_field(lake: Lake) -> None:
    from functions import layout
    from functions.errors import StorageError

    lake.write_json(layout.field_classification_pointer_key("drug", MONTH, "42"), {"run_id": "gone-run"})
    with pytest.raises(StorageError, match=r"field drug's result .*gone-run"):
        _page(lake)
