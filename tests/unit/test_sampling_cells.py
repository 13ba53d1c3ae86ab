"""The sampling copy and its cell index (ADR 0100): index contents, order checks, scope counts,
the drawn rows, exclusions, reads bounded by the draw, verification of v1 and v2 plans."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from functions import layout
from functions.auth.tokens import Principal
from functions.errors import StorageError
from functions.lake import Lake
from functions.roster.load import Roster, load_roster
from functions.roster.staff import Rules
from functions.sampling import cells
from functions.sampling import draw as drawing
from functions.sampling import frame as frames
from functions.sampling.plans import load_plan
from functions.sampling.service import TARGET_COLUMNS, draw_plan
from functions.sampling.tasks import create_plan
from functions.sampling.verify import verify_plan
from schemas.api import PlanRequest
from tests.sampling_data import AUDIT_KEY, publish, publish_cold, results_table

CALLER = Principal("0123456789ab", "platform", frozenset({"42"}))
MONTH = "2026-10"
RATIOS = {"A": 0.05, "B": 0.1, "C": 0.3, "D": 0.6}


def _staffing(lake: Lake) -> tuple[Roster, Rules]:
    """The roster ``publish`` wrote, as it stands now, and the default staffing rules."""
    return load_roster(lake, "42", dt.datetime.now(dt.UTC)), Rules("general", 2, 3)


def _request(**extra: Any) -> PlanRequest:
    return PlanRequest.model_validate({"month": MONTH, "province": "42", "ratios": RATIOS, **extra})


def _key(r: dict[str, Any]) -> tuple[str, str, str, str]:
    return (r["risk_class"], r["region_code"], r["industry_code"][:1], r["entity_type"])


@pytest.fixture
def table() -> pa.Table:
    return results_table("42", 3000, run_id="run-1")


@pytest.fixture
def lake(local_lake: Lake, table: pa.Table) -> Lake:
    return publish_cold(local_lake, table, MONTH, "42")


def _frame(lake: Lake) -> cells.CellFrame:
    f = cells.load_published(lake, MONTH, "42")
    assert isinstance(f, cells.CellFrame)
    return f


def test_index_holds_each_cell_its_rows_and_the_documented_digest(lake: Lake, table: pa.Table) -> None:
    index = _frame(lake).index
    rows = table.to_pylist()
    by_cell: dict[tuple[str, ...], list[str]] = {}
    for r in rows:
        by_cell.setdefault(_key(r), []).append(r["uscc"])
    got = index.to_pylist()
    assert [tuple(c[k] for k in cells.CELL_KEY) for c in got] == sorted(by_cell)
    start = 0
    for c in got:
        codes = sorted(by_cell[tuple(c[k] for k in cells.CELL_KEY)])
        assert (c["start"], c["count"]) == (start, len(codes))
        assert c["digest"] == hashlib.sha256("".join(f"{u}\n" for u in codes).encode()).hexdigest()
        start += len(codes)
    meta = index.schema.metadata
    assert meta[b"layout"] == b"cells-v2" and meta[b"run_id"] == b"run-1" and meta[b"rows"] == b"3000"
    assert _frame(lake).rg_starts.tolist() == [0, 3000]  # recorded row group sizes


def test_an_unsorted_copy_is_refused(tmp_path: Any, table: pa.Table) -> None:
    rows = cells.sort_for_copy(table)
    swapped = rows.take(pa.array([1, 0, *range(2, rows.num_rows)]))
    path = str(tmp_path / "bad.parquet")
    cells.write_copy(path, swapped)
    with pytest.raises(StorageError, match="not sorted"):
        cells.build_index(pq.ParquetFile(path), run_id="r", model="m")


@pytest.mark.parametrize(
    "scope",
    [
        frames.Scope(),
        frames.Scope(region_prefix="4201"),
        frames.Scope(region_prefix="420500", industries=("A", "C"), entity_types=("enterprise",)),
        frames.Scope(entity_types=("individual", "cooperative")),
    ],
)
def test_scope_counts_equal_the_in_memory_frame(lake: Lake, table: pa.Table, scope: frames.Scope) -> None:
    sel = cells.selection(_frame(lake), scope, ("A", "B", "C", "D"))
    legacy = frames.scoped(frames.frame_from_table(table), scope)
    want = {c: legacy["risk_class"].to_pylist().count(c) for c in "ABCD"}
    assert sel.populations == want and sel.size == legacy.num_rows > 0


def _expected_targets(table: pa.Table, req: PlanRequest, seed: str) -> list[dict[str, Any]]:
    """The draw by hand: each class's scoped rows in copy order (cell, uscc), exclusions removed."""
    excluded = set(req.exclude)
    rows = [
        r
        for r in table.to_pylist()
        if (req.region_prefix is None or r["region_code"].startswith(req.region_prefix))
        and (not req.industries or r["industry_code"][0] in req.industries)
        and (not req.entity_types or r["entity_type"] in req.entity_types)
        and r["uscc"] not in excluded
    ]
    rows.sort(key=lambda r: (*_key(r), r["uscc"]))
    per_class = {c: [r for r in rows if r["risk_class"] == c] for c in "ABCD"}
    positions = drawing.draw(seed, {c: len(v) for c, v in per_class.items()}, req.ratios)
    return [{k: per_class[c][p][k] for k in TARGET_COLUMNS} for c in "ABCD" for p in positions[c]]


@pytest.mark.parametrize("extra", [{}, {"region_prefix": "4201", "industries": ["A", "G"]}])
def test_targets_are_the_drawn_positions_in_copy_order(lake: Lake, table: pa.Table, extra: Any) -> None:
    req = _request(**extra)
    drawn = draw_plan(req, _frame(lake), "seed-1", *_staffing(lake))
    got = [{k: r[k] for k in TARGET_COLUMNS} for r in drawn.rows()]
    assert got == _expected_targets(table, req, "seed-1") and len(got) > 20


def test_exclusions_shift_positions_and_enter_the_digest(lake: Lake, table: pa.Table) -> None:
    rows = table.to_pylist()
    inside = [r["uscc"] for r in rows if r["region_code"] == "420102"][::3][:40]
    outside = [r["uscc"] for r in rows if r["region_code"] == "420500"][:5]
    req = _request(region_prefix="420102", exclude=[*inside, *outside, "91420100MA4K0000XX"])
    frame = _frame(lake)
    drawn = draw_plan(req, frame, "seed-x", *_staffing(lake))
    got = [{k: r[k] for k in TARGET_COLUMNS} for r in drawn.rows()]
    assert got == _expected_targets(table, req, "seed-x")
    assert not {r["uscc"] for r in got} & set(inside)
    plain = draw_plan(_request(region_prefix="420102"), frame, "seed-x", *_staffing(lake))
    assert drawn.draw.size == plain.draw.size - len(inside)  # outside codes change nothing
    assert drawn.draw.digest != plain.draw.digest and drawn.draw.digest.startswith("cells-v2:")
    sel = cells.selection(frame, frames.Scope(region_prefix="420102"), "ABCD")
    body = b"".join(frame.lines[int(i)].as_py().encode() for c in "ABCD" for i in sel.cells[c])
    assert (
        plain.draw.digest == "cells-v2:" + hashlib.sha256(b"creditrisk-frame/cells-v2\n" + body).hexdigest()
    )


def test_drawn_rows_name_each_rows_cell(lake: Lake, table: pa.Table) -> None:
    """The cells the draw knows are the cells holding its rows: fetch takes the cell keys there."""
    frame = _frame(lake)
    excluded = [r["uscc"] for r in table.to_pylist()][::7]
    sel = cells.selection(frame, frames.Scope(exclude=tuple(excluded)), "ABCD")
    positions = drawing.draw_positions("seed-c", sel.populations, RATIOS)
    rows, at = cells.drawn_rows(frame, sel, positions, "ABCD")
    assert len(rows) > 100 and (rows == cells.rows_of(frame, sel, positions, "ABCD")).all()
    assert at.tolist() == (np.searchsorted(frame.starts, rows, side="right") - 1).tolist()
    assert cells.fetch(frame, rows, TARGET_COLUMNS, at).equals(cells.fetch(frame, rows, TARGET_COLUMNS))


class CountingLake(Lake):
    """A lake that counts the bytes read through random-access files (what Parquet reads use)."""

    read_bytes_count = 0

    def open_input_file(self, key: str) -> Any:
        inner = super().open_input_file(key)
        lake = self

        class Counting:
            def __init__(self) -> None:
                self.closed = False

            def read(self, n: int = -1) -> bytes:
                data: bytes = inner.read(n)
                lake.read_bytes_count += len(data)
                return data

            def seek(self, pos: int, whence: int = 0) -> int:
                return int(inner.seek(pos, whence))

            def tell(self) -> int:
                return int(inner.tell())

            def size(self) -> int:
                return int(inner.size())

            def close(self) -> None:
                self.closed = True
                inner.close()

            def readable(self) -> bool:
                return True

            def seekable(self) -> bool:
                return True

            def __enter__(self) -> Any:
                return pa.PythonFile(self, mode="r")

            def __exit__(self, *exc: object) -> None:
                self.close()

        return Counting()


def test_a_small_scope_reads_a_fraction_of_the_copy(local_settings: Any) -> None:
    lake = CountingLake.from_uri(local_settings.lake_uri)
    cells.clear_cache()
    big = results_table("42", 40_000, run_id="run-big")
    with_small_groups = cells.ROW_GROUP_SIZE
    try:
        cells.ROW_GROUP_SIZE = 1024  # many row groups at test size
        publish(lake, big, MONTH, "42")
    finally:
        cells.ROW_GROUP_SIZE = with_small_groups
    frame = _frame(lake)
    copy_size = lake.info(frame.copy_key).size  # type: ignore[union-attr]
    staffing = _staffing(lake)  # the roster is read before counting: the frame's reads are measured
    lake.read_bytes_count = 0
    req = _request(region_prefix="420102", industries=["C"], entity_types=["enterprise"], ratios={"D": 1.0})
    drawn = draw_plan(req, frame, "s", *staffing)
    assert drawn.draw.table.num_rows > 0
    assert 0 < lake.read_bytes_count < copy_size / 10


def test_v1_plans_still_verify_and_v2_plans_match(local_lake: Lake, table: pa.Table) -> None:
    publish_cold(local_lake, table, MONTH, "42", sampling_copy=False)  # a run from before ADR 0100
    old, _ = create_plan(local_lake, _request(seed="v"), CALLER, AUDIT_KEY)
    assert len(load_plan(local_lake, old)["frame_digest"]) == 64  # v1: bare hex
    assert verify_plan(local_lake, old).status == "match"
    publish(local_lake, results_table("42", 3000, run_id="run-2", seed=11), MONTH, "42")
    new, _ = create_plan(local_lake, _request(seed="v"), CALLER, AUDIT_KEY)
    assert load_plan(local_lake, new)["frame_digest"].startswith("cells-v2:")
    assert verify_plan(local_lake, new).status == "match"
    result = verify_plan(local_lake, old)
    assert result.status == "replaced" and result.ok


def test_verify_rebuilds_the_index_and_detects_an_edited_copy(lake: Lake, tmp_path: Any) -> None:
    pid, _ = create_plan(lake, _request(seed="t"), CALLER, AUDIT_KEY)
    frame = _frame(lake)
    rows = pq.read_table(lake.path(frame.copy_key))
    names = rows["name"].to_pylist()
    classes = rows["risk_class"].to_pylist()
    i = classes.index("D")
    uscc = rows["uscc"].to_pylist()
    uscc[i] = uscc[i][:-1] + ("0" if uscc[i][-1] != "0" else "1")  # another entity in its place
    edited = rows.set_column(rows.schema.get_field_index("uscc"), "uscc", pa.array(uscc))
    assert edited["name"].to_pylist() == names
    path = str(tmp_path / "edited.parquet")
    cells.write_copy(path, edited)
    lake.write_file(frame.copy_key, path)  # behind the API's back; the stored index is unchanged
    cells.clear_cache()
    result = verify_plan(lake, pid)
    assert result.status == "mismatch" and "sampling_index" in result.differences
    assert "frame_digest" in result.differences


def test_the_same_layout_draws_the_same_plan_from_s3(any_lake: Lake, table: pa.Table) -> None:
    publish_cold(any_lake, table, MONTH, "42")
    frame = cells.load_published(any_lake, MONTH, "42")
    assert isinstance(frame, cells.CellFrame)
    req = _request(region_prefix="4201", exclude=[table["uscc"][5].as_py()])
    got = json.loads(json.dumps(draw_plan(req, frame, "s3-seed", *_staffing(any_lake)).rows()))
    want = _expected_targets(table, req, "s3-seed")
    assert [{k: r[k] for k in TARGET_COLUMNS} for r in got] == want


def test_duckdb_writes_the_same_copy_as_the_reference_sort(local_lake: Lake, table: pa.Table) -> None:
    from functions.classify.sampling_copy import write_sampling_copy

    publish_cold(local_lake, table, MONTH, "42")  # reference copy (pyarrow sort) for run-1
    reference = _frame(local_lake).index
    other = table.set_column(table.schema.get_field_index("run_id"), "run_id", pa.array(["run-dk"] * 3000))
    shuffled = other.take(pa.array(list(reversed(range(3000)))))
    local_lake.write_parquet(layout.run_classifications_key("run-dk"), shuffled)
    summary = write_sampling_copy(local_lake, MONTH, "42", "run-dk", "samr-general@1")
    assert summary["rows"] == 3000 and summary["cells"] == reference.num_rows
    got = cells.load_run(local_lake, MONTH, "42", "run-dk")
    assert got is not None
    assert got.index.to_pylist() == reference.to_pylist()  # same cells, rows and digests


def test_the_copy_samples_by_the_approved_adjusted_class(local_lake: Lake, table: pa.Table) -> None:
    """ADR 0120: an approved manual adjustment moves the entity to its adjusted class in the
    sampling copy (the published partition keeps the model's class); a proposed one does not."""
    from functions.classify.sampling_copy import write_sampling_copy
    from functions.objections import adjust
    from schemas.objections import Actor

    publish_cold(local_lake, table, MONTH, "42")
    li, wang = Actor(kind="operator", id="li", name="li"), Actor(kind="operator", id="wang", name="wang")
    rows = table.to_pylist()
    moved, pending = rows[7], rows[8]
    to = "D" if moved["risk_class"] != "D" else "A"
    a = adjust.propose(local_lake, moved["uscc"], MONTH, to, "核查后调整", li)
    adjust.decide(local_lake, MONTH, a.adjustment_id, wang, approve=True)
    adjust.propose(local_lake, pending["uscc"], MONTH, "D" if pending["risk_class"] != "D" else "A", "x", li)
    summary = write_sampling_copy(local_lake, MONTH, "42", "run-1", "samr-general@1")
    assert summary["adjusted"] == 1 and summary["rows"] == 3000
    copy = pq.ParquetFile(local_lake.path(layout.sampling_frame_key(MONTH, "42", "run-1"))).read()
    cls = dict(zip(copy["uscc"].to_pylist(), copy["risk_class"].to_pylist(), strict=True))
    assert cls[moved["uscc"]] == to and cls[pending["uscc"]] == pending["risk_class"]
    assert sum(c != r["risk_class"] for r in rows for c in [cls[r["uscc"]]]) == 1
    index = cells.load_run(local_lake, MONTH, "42", "run-1")
    assert index is not None
    counts: dict[str, int] = {}
    for r in index.index.to_pylist():
        counts[r["risk_class"]] = counts.get(r["risk_class"], 0) + r["count"]
    model = {k: sum(r["risk_class"] == k for r in rows) for k in "ABCD"}
    model[moved["risk_class"]] -= 1
    model[to] += 1
    assert counts == {k: v for k, v in model.items() if v}
    published = local_lake.read_parquet(layout.classification_key(MONTH, "42"))
    assert (
        moved["risk_class"]
        in published.filter(pc.equal(published["uscc"], moved["uscc"]))["risk_class"].to_pylist()
    )
