"""Paged bulk read of a month's published classification, and its change feed (docs/adr/0114).

A page is read from the published Parquet partition by row position: the cursor names the
row where the next page starts, the footer says which row group holds it, and only the four
columns a platform needs are decoded, batch by batch, from that row group on — never the whole
province. The change feed reads the same way and keeps the rows whose class differs from the
previous month's (or that are new this month); it stops after ``SCAN_ROWS`` rows even when the
page is not full, so every request does bounded work (the cursor then points past what it read).

Each row shows the model's class, and where a second person approved a manual adjustment, the
adjusted class beside it (docs/adr/0113).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from functions import layout
from functions.delivery.cursor import sign, signing_key, verify
from functions.errors import Conflict, NotFound, StorageError
from functions.objections.adjust import approved_adjustments

if TYPE_CHECKING:
    from functions.lake import Lake

COLUMNS = ["uscc", "name", "risk_class", "previous_class"]
SCAN_ROWS = 2_000_000  # most rows the change feed examines in one request
BATCH = 8192
_ENVELOPE = 1024


def page(
    lake: Lake,
    *,
    month: str,
    province: str,
    cursor: str | None,
    limit: int,
    changes_only: bool = False,
    max_bytes: int,
) -> str:
    """One page (JSON text) of ``province``'s classification for ``month``."""
    feed = "changes" if changes_only else "all"
    key = layout.classification_key(month, province)
    if lake.info(key) is None:
        raise NotFound(f"no published classification for province {province} in {month}", field="month")
    secret = signing_key(lake)
    start = 0
    expected_run: str | None = None
    if cursor:
        pos = verify(secret, cursor, {"v": 1, "p": province, "m": month, "f": feed})
        start, expected_run = int(pos["o"]), str(pos["r"])
    adjusted = approved_adjustments(lake, month, province)
    try:
        with lake.open_input_file(key) as f:
            pf = pq.ParquetFile(f)
            run_id = _run_id(pf)
            if expected_run is not None and run_id != expected_run:
                raise Conflict(
                    f"the month was re-published (run {run_id}) since this cursor was issued; "
                    "start again without a cursor",
                    field="cursor",
                    run_id=run_id,
                )
            rows, next_row = _collect(pf, start, limit, changes_only, max_bytes - _ENVELOPE, adjusted)
            total = pf.metadata.num_rows
    except OSError as exc:
        raise StorageError(f"cannot read {lake.display(key)}: {exc}") from exc
    has_more = next_row < total
    nxt = (
        sign(secret, {"v": 1, "p": province, "m": month, "f": feed, "r": run_id, "o": next_row})
        if has_more
        else None
    )
    body = {
        "month": month,
        "province": province,
        "run_id": run_id,
        "feed": feed,
        "total": total,
        "limit": limit,
        "has_more": has_more,
        "next_cursor": nxt,
        "rows": rows,
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _run_id(pf: pq.ParquetFile) -> str:
    """The run that wrote the file, from the footer's statistics (every row has the same)."""
    md = pf.metadata
    # the Parquet leaf column (nested columns before it have one leaf per field)
    j = next(i for i in range(md.num_columns) if md.schema.column(i).path == "run_id")
    if md.num_row_groups:
        stats = md.row_group(0).column(j).statistics
        if stats is not None and stats.has_min_max and stats.min == stats.max:
            return str(stats.min)
        first = pf.read_row_group(0, columns=["run_id"]).column(0)
        if len(first):
            return str(first[0].as_py())
    return ""


def _batches(pf: pq.ParquetFile, start: int) -> Iterator[tuple[int, pa.RecordBatch]]:
    """``(first row, batch)`` from global row ``start`` on, decoding from its row group only."""
    md = pf.metadata
    first = 0
    for rg in range(md.num_row_groups):
        n = md.row_group(rg).num_rows
        if first + n <= start:
            first += n
            continue
        row = first
        for batch in pf.iter_batches(batch_size=BATCH, row_groups=[rg], columns=COLUMNS):
            end = row + batch.num_rows
            if end > start:
                cut = max(0, start - row)
                yield row + cut, batch.slice(cut)
            row = end
        first += n


def _collect(
    pf: pq.ParquetFile,
    start: int,
    limit: int,
    changes_only: bool,
    budget: int,
    adjusted: dict[str, dict[str, Any]],
) -> tuple[list[dict[str, Any]], int]:
    """The page's rows and the row the next page starts at."""
    out: list[dict[str, Any]] = []
    pos = start
    scanned = 0
    for first, batch in _batches(pf, start):
        need = limit - len(out)
        if changes_only:
            prev, cls = batch.column("previous_class"), batch.column("risk_class")
            keep = pc.fill_null(pc.or_kleene(pc.is_null(prev), pc.not_equal(prev, cls)), True)
            idx = pc.indices_nonzero(keep).slice(0, need)
            chosen = batch.take(idx)
            positions: list[int] = [first + k for k in idx.to_pylist()]
        else:
            chosen = batch.slice(0, need)
            positions = list(range(first, first + chosen.num_rows))
        for at, rec in zip(positions, chosen.to_pylist(), strict=True):
            row = _row(rec, adjusted)
            size = len(json.dumps(row)) + 1  # as escaped inside the Lambda proxy answer
            if out and size > budget:
                return out, at
            out.append(row)
            budget -= size
            if len(out) >= limit:
                return out, at + 1
        pos = first + batch.num_rows
        scanned += batch.num_rows
        if changes_only and scanned >= SCAN_ROWS:
            break
    return out, pos


def _row(rec: dict[str, Any], adjusted: dict[str, dict[str, Any]]) -> dict[str, Any]:
    model_class, previous = rec["risk_class"], rec["previous_class"]
    adj = adjusted.get(rec["uscc"])
    return {
        "uscc": rec["uscc"],
        "name": rec["name"],
        "class": adj["adjusted_class"] if adj else model_class,
        "model_class": model_class,
        "adjusted": adj is not None,
        "previous_class": previous,
        "changed": previous is None or previous != model_class,
    }
