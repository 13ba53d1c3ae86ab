"""Decoded copy rows kept between plan requests (ADR 0163): the same rows with and without the
cache, on both copy layouts; a warm request reads no Parquet; the budget holds; a rewritten
copy is never answered from rows decoded before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from functions.lake import Lake
from functions.sampling import cells, rowcache
from functions.sampling import frame as frames
from tests.sampling_data import publish_cold, results_table

MONTH = "2026-10"
COLUMNS = ["uscc", "name", "industry_code", "risk_class"]


class CountingLake(Lake):
    """A folder lake that counts the files opened for reading (what a request costs on S3)."""

    def __init__(self, lake: Lake) -> None:
        super().__init__(lake.fs, lake.root, lake.uri)
        self.opened: list[str] = []

    def open_input_file(self, key: str) -> Any:
        self.opened.append(key)
        return super().open_input_file(key)


@pytest.fixture
def table() -> pa.Table:
    return results_table("42", 2500, run_id="run-1")


@pytest.fixture(params=["file", "chunks"])
def lake(request: pytest.FixtureRequest, local_lake: Lake, table: pa.Table, tmp_path: Path) -> CountingLake:
    """The copy in units of 300 rows: row groups of the single file, or chunks."""
    cells.clear_cache()
    frames.clear_cache()
    rows = cells.sort_for_copy(table)
    if request.param == "file":
        path = tmp_path / "frame.parquet"
        pq.write_table(rows, path, row_group_size=300, use_dictionary=list(cells.DICTIONARY_COLUMNS))
        cells.store(local_lake, MONTH, "42", "run-1", "m@1", str(path))
    else:
        cells.write_chunked(local_lake, MONTH, "42", "run-1", "m@1", rows, chunk_rows=300)
    return CountingLake(local_lake)


def _rows(n: int, k: int, seed: int) -> Any:
    return np.random.default_rng(seed).choice(n, k, replace=False).astype(np.int64)  # any order


def _copy_reads(lake: CountingLake) -> list[str]:
    return [k for k in lake.opened if "/_sampling/" in k and not k.endswith("cells.parquet")]


def test_cached_rows_are_the_rows_read_without_the_cache(
    lake: CountingLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = cells.load_run(lake, MONTH, "42", "run-1")
    assert frame is not None
    rows = _rows(frame.size, 700, 1)
    monkeypatch.setenv("CREDITRISK_SAMPLING_CACHE_MB", "0")
    from functions.settings import get_settings

    get_settings.cache_clear()
    rowcache.reset()
    uncached = cells.fetch(frame, rows, COLUMNS)
    assert rowcache.shared().nbytes == 0
    monkeypatch.delenv("CREDITRISK_SAMPLING_CACHE_MB")
    get_settings.cache_clear()
    rowcache.reset()
    first = cells.fetch(frame, rows, COLUMNS)
    assert rowcache.shared().nbytes > 0
    lake.opened.clear()
    again = cells.fetch(frame, rows[::-1], COLUMNS)
    assert _copy_reads(lake) == []  # every row from the cache: nothing of the copy opened
    assert first.equals(uncached)
    assert again.equals(uncached.take(pa.array(np.arange(len(rows))[::-1])))
    assert first.schema.field("industry_code").type == pa.string()  # dictionaries decoded


def test_rows_outside_the_cached_units_are_read_and_joined_in_order(lake: CountingLake) -> None:
    frame = cells.load_run(lake, MONTH, "42", "run-1")
    assert frame is not None
    low = np.arange(0, 50, dtype=np.int64)
    cells.fetch(frame, low, ["uscc"])
    lake.opened.clear()
    mixed = np.array([frame.size - 1, 3, frame.size // 2, 10], dtype=np.int64)
    got = cells.fetch(frame, mixed, ["uscc"])["uscc"].to_pylist()
    assert len(_copy_reads(lake)) >= 1  # the high rows were not cached
    cells.clear_cache()
    fresh = cells.load_run(lake, MONTH, "42", "run-1")
    assert fresh is not None
    assert got == [cells.fetch(fresh, [int(r)], ["uscc"])["uscc"][0].as_py() for r in mixed]


def test_a_rewritten_copy_is_read_again(local_lake: Lake, table: pa.Table) -> None:
    cells.clear_cache()
    publish_cold(local_lake, table, MONTH, "42")
    frame = cells.load_run(local_lake, MONTH, "42", "run-1")
    assert frame is not None
    rows = np.arange(frame.size, dtype=np.int64)
    before = cells.fetch(frame, rows, ["name"])["name"].to_pylist()
    renamed = table.set_column(
        table.schema.get_field_index("name"), "name", pa.array(["改名"] * table.num_rows)
    )
    cells.write_chunked(local_lake, MONTH, "42", "run-1", "m@1", cells.sort_for_copy(renamed), chunk_rows=400)
    # the index was rewritten with the copy: a new frame, never the rows decoded before
    after_frame = cells.load_run(local_lake, MONTH, "42", "run-1")
    assert after_frame is not None and after_frame is not frame
    after = cells.fetch(after_frame, rows, ["name"])["name"].to_pylist()
    assert set(after) == {"改名"} and set(before) != {"改名"}


def test_the_cache_keeps_within_its_budget_and_drops_the_least_recently_used() -> None:
    cache = rowcache.RowCache(budget=3000)
    spans = [rowcache.Span(k * 100, pa.array([f"{k:04d}-{i:05d}" for i in range(100)])) for k in range(4)]
    size = spans[0].values.nbytes
    assert 2 * size <= 3000 < 3 * size
    cache.put(1, "uscc", spans[0])
    cache.put(1, "uscc", spans[1])
    found, covered = cache.lookup(1, "uscc", np.array([5, 150], dtype=np.int64))
    assert [s.first for s in found] == [0, 100] and covered.all()
    cache.lookup(1, "uscc", np.array([5], dtype=np.int64))  # span 0 used last
    cache.put(1, "uscc", spans[2])  # no room for three: span 1 goes
    assert cache.nbytes <= 3000
    found, covered = cache.lookup(1, "uscc", np.array([5, 150, 250], dtype=np.int64))
    assert [s.first for s in found] == [0, 200] and covered.tolist() == [True, False, True]
    assert cache.lookup(2, "uscc", np.array([5], dtype=np.int64))[0] == []  # another copy's rows
    cache.put(1, "uscc", rowcache.Span(150, spans[3].values))  # overlaps the span from 200: not kept
    assert [s.first for s in cache.lookup(1, "uscc", np.array([150], dtype=np.int64))[0]] == []
    big = rowcache.Span(0, pa.array(["x" * 4000]))
    cache.put(1, "name", big)  # larger than the whole budget: never kept
    assert cache.lookup(1, "name", np.array([0], dtype=np.int64))[0] == []


def test_lookup_finds_the_spans_and_rows_they_hold() -> None:
    """Disjoint spans, adjacent or with gaps, and sorted rows before, between, inside and after
    them: the spans holding any of the rows, in order, and exactly the rows held."""
    rng = np.random.default_rng(3)
    for trial in range(200):
        cache = rowcache.RowCache(budget=1 << 30)
        at, kept = int(rng.integers(0, 5)), []
        for _ in range(int(rng.integers(1, 7))):
            length = int(rng.integers(1, 9))
            cache.put(trial, "c", rowcache.Span(at, pa.array(["x"] * length)))
            kept.append((at, at + length))
            at += length + int(rng.integers(0, 3))  # adjacent or a gap
        rows = np.unique(rng.integers(0, at + 3, int(rng.integers(0, 25)))).astype(np.int64)
        found, covered = cache.lookup(trial, "c", rows)
        held = [any(a <= r < b for a, b in kept) for r in rows.tolist()]
        assert covered.tolist() == held
        assert [s.first for s in found] == [a for a, b in kept if any(a <= r < b for r in rows.tolist())]


def test_a_kept_span_owns_its_buffers() -> None:
    batch = pa.array([f"row-{i}" for i in range(1000)])
    part = batch.slice(500, 10)
    kept = rowcache.owned(pa.chunked_array([part]))
    assert kept.to_pylist() == part.to_pylist()
    assert kept.offset == 0 and kept.buffers()[2].size < batch.buffers()[2].size / 10


def test_a_read_larger_than_the_budget_is_not_kept(lake: CountingLake) -> None:
    frame = cells.load_run(lake, MONTH, "42", "run-1")
    assert frame is not None
    every = np.arange(frame.size, dtype=np.int64)
    whole = cells.fetch(frame, every, ["name"])["name"].nbytes
    cache = rowcache.configure(budget=int(whole * 0.8))  # the whole copy does not fit
    try:
        cells.fetch(frame, every, ["name"])
        assert cache.nbytes == 0
        cells.fetch(frame, every[:200], ["name"])  # a small read is kept
        assert 0 < cache.nbytes <= whole
    finally:
        rowcache.reset()
