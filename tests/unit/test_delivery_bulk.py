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
from tests.sampling_data import FakeKms, publish, results_table

MONTH = "2026-10"


@pytest.fixture
def table() -> pa.Table:
    t = results_table("42", 503, run_id="run-1")
    prev = [
        None if i % 7 == 0 else ("A" if i % 3 == 0 else c) for i, c in enumerate(t["risk_class"].to_pylist())
    ]
    return t.set_column(
        t.schema.get_field_index("previous_class"), "previous_class", pa.array(prev, pa.string())
    )


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
