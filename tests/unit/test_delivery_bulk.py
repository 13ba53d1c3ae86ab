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
from tests.sampling_data import FakeKms, changed_table, publish, publish_field, results_table

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


# -- nulls, the footer cache and field runs bound into the cursor (docs/adr/0161) ---------------
def _with_nulls(table: pa.Table, column: str, rows: list[int]) -> pa.Table:
    """``table`` with ``column`` null at ``rows`` (the contract's schema made nullable first), and
    those rows new this month (no previous class), so both feeds show them."""
    loose = table.cast(pa.schema([f.with_nullable(True) for f in table.schema]))
    for name in dict.fromkeys([column, "previous_class"]):
        values = loose[name].to_pylist()
        for i in rows:
            values[i] = None
        loose = loose.set_column(loose.schema.get_field_index(name), name, pa.array(values, pa.string()))
    return loose


@pytest.mark.parametrize("column", ["risk_class", "name", "uscc"])
@pytest.mark.parametrize("changes_only", [False, True])
def test_a_published_row_without_code_name_or_class_fails_its_page_naming_the_run(
    local_lake: Lake, table: pa.Table, column: str, changes_only: bool
) -> None:
    """Never a page of invalid JSON: the row breaks the results contract (and the API's schema),
    so its page is a StorageError naming the run and the row; the pages before it are served."""
    from functions.errors import StorageError

    clear_bulk()
    at = 120 if column != "uscc" else 502  # a null code sorts last in a published (uscc-ordered) file
    publish(local_lake, _with_nulls(table, column, [at]), MONTH, "42", sampling_copy=False, with_roster=False)
    first = _page(local_lake, limit=10, changes_only=changes_only)
    assert first["rows"] and json.dumps(first)  # the first page holds no null row
    with pytest.raises(StorageError, match=rf"run run-1: row {at} of .* has no {column}") as err:
        _all(local_lake, limit=100, changes_only=changes_only)
    assert err.value.details == {"run_id": "run-1", "row": at}


def test_a_null_previous_class_is_json_null_in_every_feed(local_lake: Lake, table: pa.Table) -> None:
    """The nullable column (a new entity) is valid JSON wherever it is null."""
    clear_bulk()
    t = _with_nulls(table, "previous_class", list(range(503)))
    publish(local_lake, t, MONTH, "42", sampling_copy=False, with_roster=False)
    for changes_only in (False, True):
        rows, _ = _all(local_lake, changes_only=changes_only)
        assert len(rows) == 503 and all(r["previous_class"] is None and r["changed"] for r in rows)


class CountingLake:
    """The lake as the bulk read sees it, counting pointer reads, opens and footer reads (a read
    reaching a file's last byte: the Parquet footer, which a row group's read never reaches)."""

    def __init__(self, lake: Lake) -> None:
        from collections import Counter

        self._lake = lake
        self.json: Counter[str] = Counter()
        self.opened: Counter[str] = Counter()
        self.footers: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lake, name)

    def read_json(self, key: str) -> Any:
        self.json[key] += 1
        return self._lake.read_json(key)

    def open_input_file(self, key: str) -> Any:
        import io

        self.opened[key] += 1
        data, footers = self._lake.read_bytes(key), self.footers

        class Tail(io.BytesIO):
            def read(self, n: int | None = -1) -> bytes:
                out = super().read(n)
                if out and self.tell() == len(data):
                    footers[key] += 1
                return out

        return Tail(data)


def test_a_walk_reads_each_field_results_footer_once_per_process(lake: Lake, table: pa.Table) -> None:
    """Run results are immutable: the footer is kept per run; the pointer (which moves) is read on
    every page; a second walk, every row group cached, does not open the field result at all."""
    from typing import cast

    from functions import layout

    _publish_food(lake, table)
    counting = CountingLake(lake)
    rows, pages = _all(cast(Lake, counting))
    assert pages == 11 and [r["uscc"] for r in rows] == table["uscc"].to_pylist()
    result = layout.field_result_key(FIELD_RUN)
    assert counting.footers[result] == 1  # 11 before: one per page
    assert counting.json[layout.field_classification_pointer_key("food", MONTH, "42")] == pages
    opened = counting.opened[result]
    assert 1 <= opened <= pages
    again, _ = _all(cast(Lake, counting))
    assert again == rows and counting.footers[result] == 1 and counting.opened[result] == opened
    general = layout.classification_key(MONTH, "42")
    assert counting.footers[general] == 2 * pages  # the general partition moves: read each page


def test_a_field_republished_while_paging_is_a_conflict_like_the_general_run(
    lake: Lake, table: pa.Table
) -> None:
    """docs/adr/0161: a cursor binds the field runs its walk started with; a field re-published,
    newly published or withdrawn under it is a 409 of the general run's shape."""
    from functions import layout

    food = _publish_food(lake, table)
    cursor = _page(lake)["next_cursor"]
    assert _page(lake, cursor)["field_runs"] == {"food": FIELD_RUN}  # unchanged: the walk goes on
    publish_field(lake, "food", MONTH, "42", food, run_id="field-food-2")
    with pytest.raises(Conflict, match="re-published") as err:
        _page(lake, cursor)
    body = err.value.to_dict()
    assert (body["error"], body["field"], body["details"]) == (
        "conflict",
        "cursor",
        {"run_id": "run-1", "field_runs": {"food": "field-food-2"}},
    )
    restarted = _page(lake)["next_cursor"]
    publish_field(lake, "drug", MONTH, "42", dict(list(food.items())[:5]), run_id="field-drug-1")
    with pytest.raises(Conflict, match="drug run field-drug-1"):
        _page(lake, restarted)  # a field published under the walk: its earlier pages lacked it
    again = _page(lake)["next_cursor"]
    lake.delete(layout.field_classification_pointer_key("drug", MONTH, "42"))
    with pytest.raises(Conflict):
        _page(lake, again)


def test_a_cursor_without_field_runs_restarts_the_walk(lake: Lake) -> None:
    """A cursor issued before ADR 0161 (no field runs in it) cannot vouch for them: 409."""
    from functions.delivery.cursor import sign

    signer = cursor_signer(Settings(lake_uri=lake.uri), lake)
    old = sign(signer, {"v": 1, "p": "42", "m": MONTH, "f": "all", "r": "run-1", "o": 50})
    with pytest.raises(Conflict, match="start again"):
        _page(lake, old)


def test_the_footer_cache_is_bounded_least_recently_used_first_out(lake: Lake, table: pa.Table) -> None:
    from typing import cast

    from functions import layout
    from functions.delivery.field_classes import FooterCache

    codes = table["uscc"].to_pylist()
    runs = [f"field-food-{i}" for i in range(3)]
    for run in runs:
        publish_field(lake, "food", MONTH, "42", {c: "B" for c in codes[:7]}, run_id=run)
    counting = CountingLake(lake)
    cache = FooterCache(2)
    for run in [*runs, runs[2], runs[0]]:  # the third evicts the first; the last reads it again
        md, schema = cache.get(cast(Lake, counting), layout.field_result_key(run), "food")
        assert md.num_rows == 7 and "uscc" in schema.names
    assert [counting.footers[layout.field_result_key(r)] for r in runs] == [2, 1, 1]
