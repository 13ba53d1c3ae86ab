"""A sampling copy stored in position chunks, as Athena writes it (ADR 0147): the draw order is
the data's (``pos``: cell, then uscc), so the same request and seed draw the same plan, with the
same frame digest, from the single file the DuckDB path writes and from chunks of any size whose
files are interleaved; verification rebuilds the index from the chunks and catches a lost row."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from functions import layout
from functions.auth.tokens import Principal
from functions.errors import StorageError
from functions.lake import Lake
from functions.sampling import cells
from functions.sampling import frame as frames
from functions.sampling.plans import load_plan
from functions.sampling.tasks import create_plan
from functions.sampling.verify import verify_plan
from schemas.api import PlanRequest
from tests.sampling_data import AUDIT_KEY, publish, results_table

CALLER = Principal("0123456789ab", "platform", frozenset({"42"}))
MONTH = "2026-10"
LAYOUTS = {"file": None, "chunks-1": (256, 1), "chunks-2": (100, 2), "chunks-big": (1 << 20, 3)}
REQUESTS: list[dict[str, Any]] = [
    {"ratios": {"A": 0.05, "B": 0.1, "C": 0.3, "D": 0.6}},
    {"ratios": {"A": 0.2, "D": 1.0}, "region_prefix": "4201", "industries": ["A", "G"]},
]
COMPARED = ("frame_digest", "population", "strata", "targets")


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return results_table("42", 1500, run_id="run-1")


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory, table: pa.Table) -> dict[str, Any]:
    """Per layout: its lake and the plans drawn from it for each request (same seeds)."""
    excluded = [table["uscc"][i].as_py() for i in (3, 50, 700)]
    out: dict[str, Any] = {}
    for name, chunks in LAYOUTS.items():
        cells.clear_cache()
        frames.clear_cache()
        lake = Lake.from_uri(str(tmp_path_factory.mktemp(name) / "lake"))
        publish(lake, table, MONTH, "42", chunks=chunks)
        ids = []
        for i, extra in enumerate(REQUESTS):
            body = {"month": MONTH, "province": "42", "seed": f"s{i}", "exclude": excluded[: i + 1], **extra}
            pid, _ = create_plan(lake, PlanRequest.model_validate(body), CALLER, AUDIT_KEY)
            ids.append(pid)
        out[name] = (lake, ids)
    return out


def _compared(lake: Lake, pid: str) -> dict[str, Any]:
    plan = load_plan(lake, pid)
    return {k: plan.get(k) for k in COMPARED}


@pytest.mark.parametrize("name", [n for n in LAYOUTS if n != "file"])
def test_chunked_copies_draw_the_plans_of_the_single_file(plans: dict[str, Any], name: str) -> None:
    ref_lake, ref_ids = plans["file"]
    lake, ids = plans[name]
    for ref, pid in zip(ref_ids, ids, strict=True):
        want, got = _compared(ref_lake, ref), _compared(lake, pid)
        assert got == want and len(got["targets"]) > 10 and got["frame_digest"].startswith("cells-v2:")
        cells.clear_cache()
        result = verify_plan(lake, pid)
        assert result.status == "match", result.differences
    index = cells.load_run(lake, MONTH, "42", "run-1")
    assert index is not None and index.chunks is not None and index.metadata is None
    assert index.index.to_pylist() == cells.load_run(ref_lake, MONTH, "42", "run-1").index.to_pylist()  # type: ignore[union-attr]


def test_a_lost_row_in_a_chunk_is_a_verification_failure(plans: dict[str, Any], tmp_path: Path) -> None:
    lake, ids = plans["chunks-2"]
    frame = cells.load_run(lake, MONTH, "42", "run-1")
    assert frame is not None and frame.chunks is not None
    key = f"{layout.sampling_prefix(MONTH, '42', 'run-1')}/{frame.chunks.files[3][1]}"
    original = lake.read_bytes(key)
    rows = pq.read_table(io.BytesIO(original))
    buf = io.BytesIO()
    pq.write_table(rows.slice(1), buf)  # one entity fewer, behind the API's back
    lake.write_bytes(key, buf.getvalue())
    try:
        cells.clear_cache()
        result = verify_plan(lake, ids[0])
        assert not result.ok and "lacks or repeats positions" in (result.message or "")
    finally:
        lake.write_bytes(key, original)
        cells.clear_cache()
    assert verify_plan(lake, ids[0]).status == "match"


def test_a_request_reads_only_the_chunks_holding_its_rows(plans: dict[str, Any]) -> None:
    lake, _ = plans["chunks-2"]
    frame = cells.load_run(lake, MONTH, "42", "run-1")
    assert frame is not None and frame.chunks is not None
    read: list[int] = []
    real = cells.chunk

    def spy(f: cells.CellFrame, k: int, columns: Any, **kw: Any) -> pa.Table:
        read.append(k)
        return real(f, k, columns, **kw)

    cells.chunk = spy  # type: ignore[assignment]
    try:
        got = cells.fetch(frame, [5, 205, 1499, 6], ["uscc", "risk_class"])
    finally:
        cells.chunk = real  # type: ignore[assignment]
    assert sorted(read) == [0, 2, 14]  # chunks of 100 rows
    assert got["uscc"].to_pylist() == [
        cells.chunk(frame, k, ["uscc"])["uscc"][p % 100].as_py()
        for p, k in ((5, 0), (205, 2), (1499, 14), (6, 0))
    ]


def test_a_request_trusts_a_footer_only_when_it_spans_the_chunk(plans: dict[str, Any]) -> None:
    """One file per chunk: read without ``pos`` when its statistics span the chunk exactly; a
    file that lost a row no longer does, so its positions are read and the loss is an error."""
    lake, _ = plans["chunks-1"]
    frame = cells.load_run(lake, MONTH, "42", "run-1")
    assert frame is not None and frame.chunks is not None
    assert cells.chunk(frame, 2, ["uscc"], trust_footer=True).column_names == ["uscc"]
    assert cells.chunk(frame, 2, ["uscc"]).column_names == ["uscc", "pos"]
    key = f"{layout.sampling_prefix(MONTH, '42', 'run-1')}/{frame.chunks.files[2][0]}"
    original = lake.read_bytes(key)
    buf = io.BytesIO()
    pq.write_table(pq.read_table(io.BytesIO(original)).slice(0, 255), buf)  # the last row lost
    lake.write_bytes(key, buf.getvalue())
    try:
        with pytest.raises(StorageError, match="lacks or repeats positions"):
            cells.fetch(frame, [2 * 256 + 3], ["uscc"])
    finally:
        lake.write_bytes(key, original)
