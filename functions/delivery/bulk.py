"""Paged bulk read of a month's published classification, and its change feed (docs/adr/0114).

A page is read from the published Parquet partition by row position: the cursor names the
row where the next page starts, the footer says which row group holds it, and only the four
columns a platform needs are decoded, batch by batch, from that row group on — never the whole
province. The change feed reads the same way and keeps the rows whose class differs from the
previous month's (or that are new this month); it stops after ``SCAN_ROWS`` rows even when the
page is not full, so every request does bounded work (the cursor then points past what it read).

Each row shows the model's class, and where a second person approved a manual adjustment, the
adjusted class beside it (docs/adr/0113); and each published field's class and sampling class,
read for the page's codes only (``functions.delivery.field_classes``, docs/adr/0156).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from functions import layout
from functions.delivery.changes import ChunkedChanges
from functions.delivery.cursor import sign, verify
from functions.delivery.field_classes import FieldSource, fields_json, open_fields
from functions.delivery.field_classes import clear_cache as clear_footers
from functions.errors import Conflict, InvalidInput, NotFound, StorageError
from functions.objections.adjust import approved_adjustments

if TYPE_CHECKING:
    from functions.lake import Lake
    from functions.sampling.signing import Signer

COLUMNS = ["uscc", "name", "risk_class", "previous_class"]
SCAN_ROWS = 2_000_000  # most rows the change feed examines in one request
BATCH = 65_536
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
    signer: Signer,
) -> str:
    """One page (JSON text) of ``province``'s classification for ``month``; ``signer`` MACs the
    cursors (``functions.delivery.cursor.cursor_signer``: KMS in AWS)."""
    feed = "changes" if changes_only else "all"
    key = layout.classification_key(month, province)
    if lake.info(key) is None:
        raise NotFound(f"no published classification for province {province} in {month}", field="month")
    start = 0
    expected_run: str | None = None
    source: str | None = None
    expected_fields: str | None = None  # the digest of the field runs the walk started with
    if cursor:
        pos = verify(signer, cursor, {"v": 1, "p": province, "m": month, "f": feed})
        start, expected_run, source = int(pos["o"]), str(pos["r"]), pos.get("s")
        expected_fields = str(pos.get("fr", ""))  # none in a cursor issued before ADR 0161: restart
    adjusted = approved_adjustments(lake, month, province)
    try:
        with ExitStack() as stack:
            pf = pq.ParquetFile(stack.enter_context(lake.open_input_file(key)))
            fields = open_fields(lake, month, province, stack, _cached_reader)
            field_runs = {s.field: s.run_id for s in fields}
            budget = max_bytes - _ENVELOPE - 2 * len(json.dumps(field_runs))
            run_id = _run_id(pf)
            if expected_run is not None and run_id != expected_run:
                raise Conflict(
                    f"the month was re-published (run {run_id}) since this cursor was issued; "
                    "start again without a cursor",
                    field="cursor",
                    run_id=run_id,
                )
            if expected_fields is not None and expected_fields != runs_digest(field_runs):
                now = ", ".join(f"{k} run {v}" for k, v in field_runs.items()) or "none"
                raise Conflict(
                    "a professional field was published or re-published for the month since this cursor "
                    f"was issued (fields now: {now}); start again without a cursor",
                    field="cursor",
                    run_id=run_id,
                    field_runs=field_runs,
                )
            total = pf.metadata.num_rows
            ckey = layout.changes_key(month, province, run_id) if changes_only else None
            if ckey is not None and lake.info(ckey) is not None:
                # the changed rows written at publish time (ADR 0121): positions are the file's
                _same_source(source, "file", cursor)
                with lake.open_input_file(ckey) as cf:
                    cpf = pq.ParquetFile(cf)
                    rows, next_row = _collect(cpf, start, limit, False, budget, adjusted,
                                              (lake.display(ckey), run_id), fields)  # fmt: skip
                    end, used = cpf.metadata.num_rows, "file"
            elif changes_only and (chunked := ChunkedChanges.open(lake, month, province, run_id)) is not None:
                # written by Athena in position chunks (ADR 0152): a chunk is read as a row group
                _same_source(source, "file", cursor)
                rows, next_row = _collect(chunked, start, limit, False, budget, adjusted,
                                          (lake.display(chunked.prefix), run_id), fields)  # fmt: skip
                end, used = chunked.rows, "file"
            else:
                _same_source(source, None, cursor)
                file_id = (lake.display(key), run_id)
                rows, next_row = _collect(pf, start, limit, changes_only, budget, adjusted, file_id, fields)
                end, used = total, None
    except OSError as exc:
        raise StorageError(f"cannot read {lake.display(key)}: {exc}") from exc
    has_more = next_row < end
    state: dict[str, Any] = {"v": 1, "p": province, "m": month, "f": feed, "r": run_id, "o": next_row,
                             "fr": runs_digest(field_runs)}  # fmt: skip
    if used:
        state["s"] = used
    nxt = sign(signer, state) if has_more else None
    head = {
        "month": month,
        "province": province,
        "run_id": run_id,
        "feed": feed,
        "total": total,
        "limit": limit,
        "has_more": has_more,
        "next_cursor": nxt,
        "field_runs": field_runs,
    }
    envelope = json.dumps(head, ensure_ascii=False, separators=(",", ":"))
    return envelope[:-1] + ',"rows":[' + ",".join(p for p in rows if p) + "]}"


def runs_digest(field_runs: dict[str, str]) -> str:
    """The field runs a walk started with, bound into its cursors (docs/adr/0161): a digest,
    not the ids (four run ids would pass the cursor's 512 characters); the MAC makes it as
    binding as the ids."""
    text = json.dumps(field_runs, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _same_source(source: str | None, used: str | None, cursor: str | None) -> None:
    """A cursor's offset counts rows of the file it was read from (partition or changes file)."""
    if cursor and source != used:
        raise InvalidInput("cursor is not one this API returned for this listing", field="cursor")


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


class _GroupCache:
    """The last row groups decoded (four columns each), per process: a platform pages on
    through a row group, so the warm function slices the next page instead of decoding the row
    group again. Keyed by file, run and row group (a re-published month never hits); bounded
    by bytes (``CACHE_BYTES``), least recently used first out."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._d: OrderedDict[tuple[str, str, int], pa.Table] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, int]) -> pa.Table | None:
        with self._lock:
            hit = self._d.get(key)
            if hit is not None:
                self._d.move_to_end(key)
            return hit

    def put(self, key: tuple[str, str, int], table: pa.Table) -> None:
        with self._lock:
            self._d[key] = table
            while len(self._d) > 1 and sum(t.nbytes for t in self._d.values()) > self.limit:
                self._d.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._d.clear()


CACHE_BYTES = 128 * 2**20
_groups = _GroupCache(CACHE_BYTES)


def clear_cache() -> None:
    _groups.clear()
    clear_footers()


def _cached_reader(pf: Any, file_id: tuple[str, str], columns: list[str]) -> Callable[[int], pa.Table]:
    """A row-group reader through the cache (a field result's row group serves many pages)."""

    def read(rg: int) -> pa.Table:
        key = (*file_id, rg)
        table = _groups.get(key)
        if table is None:
            table = pf.read_row_group(rg, columns=columns).combine_chunks()
            _groups.put(key, table)
        return table

    return read


def _batches(
    pf: pq.ParquetFile | ChunkedChanges, start: int, file_id: tuple[str, str]
) -> Iterator[tuple[int, pa.RecordBatch]]:
    """``(first row, batch)`` from global row ``start`` on: row groups decoded whole (four
    columns) or taken from the cache, from the one holding ``start`` on."""
    md = pf.metadata
    first = 0
    for rg in range(md.num_row_groups):
        n = md.row_group(rg).num_rows
        if first + n <= start:
            first += n
            continue
        key = (*file_id, rg)
        table = _groups.get(key)
        if table is None:
            table = pf.read_row_group(rg, columns=COLUMNS).combine_chunks()
            _groups.put(key, table)
        cut = max(0, start - first)
        for batch in table.slice(cut).to_batches(max_chunksize=BATCH):
            yield first + cut, batch
            cut += batch.num_rows
        first += n


def _collect(
    pf: pq.ParquetFile | ChunkedChanges,
    start: int,
    limit: int,
    changes_only: bool,
    budget: int,
    adjusted: dict[str, dict[str, Any]],
    file_id: tuple[str, str],
    fields: Sequence[FieldSource] = (),
) -> tuple[list[str], int]:
    """The page's rows (JSON texts) and the row the next page starts at."""
    out: list[str] = []
    count = 0
    pos = start
    scanned = 0
    for first, batch in _batches(pf, start, file_id):
        need = limit - count
        if changes_only:
            prev, cls = batch.column("previous_class"), batch.column("risk_class")
            keep = pc.fill_null(pc.or_kleene(pc.is_null(prev), pc.not_equal(prev, cls)), True)
            idx = pc.indices_nonzero(keep).slice(0, need)
            chosen = batch.take(idx)
            positions = np.asarray(idx, dtype=np.int64) + first
        else:
            chosen = batch.slice(0, need)
            positions = np.arange(first, first + chosen.num_rows, dtype=np.int64)
        _check_required(chosen, positions, file_id)
        texts, sizes = _json_rows(chosen, adjusted, fields)
        if texts.null_count:  # a null nobody foresaw: never a page of invalid JSON
            raise StorageError(f"run {file_id[1]}: a row of {file_id[0]} cannot be written as JSON",
                               run_id=file_id[1])  # fmt: skip
        fits = int(np.searchsorted(np.cumsum(sizes), budget, side="right"))
        if fits == 0 and count == 0 and chosen.num_rows:
            fits = 1  # one row always goes out
        if fits:
            out.append(_joined(texts.slice(0, fits)))
            count += fits
            budget -= int(sizes[:fits].sum())
        if fits < chosen.num_rows:  # the answer is full
            return out, int(positions[fits])
        if count >= limit:
            return out, int(positions[-1]) + 1 if len(positions) else first + batch.num_rows
        pos = first + batch.num_rows
        scanned += batch.num_rows
        if changes_only and scanned >= SCAN_ROWS:
            break
    return out, pos


REQUIRED = ("uscc", "name", "risk_class")  # not null in the results contract and in every row shown


def _check_required(chosen: pa.RecordBatch, positions: Any, file_id: tuple[str, str]) -> None:
    """A published row without a code, name or class breaks the results contract: the page fails
    with an error naming the run and the row (a re-publish mends it) rather than pass a row the
    API's own schema forbids (docs/adr/0161). ``previous_class`` may be null (a new entity)."""
    for column in REQUIRED:
        values = chosen.column(column)
        if values.null_count:
            at = int(positions[pc.index(pc.is_null(values), True).as_py()])
            raise StorageError(
                f"run {file_id[1]}: row {at} of {file_id[0]} has no {column} (the results contract requires "
                "one); the month must be re-published",
                run_id=file_id[1],
                row=at,
            )


def _joined(texts: pa.Array) -> str:
    one = pa.ListArray.from_arrays(pa.array([0, len(texts)], pa.int32()), texts)
    return str(pc.binary_join(one, ",")[0].as_py())


_CONTROL = r"[\x00-\x1f]"


def _json_rows(
    chosen: pa.RecordBatch, adjusted: dict[str, dict[str, Any]], fields: Sequence[FieldSource] = ()
) -> tuple[pa.Array, Any]:
    """Each row as JSON text, built in Arrow (no Python object per row), and an upper bound of its
    bytes inside the Lambda proxy answer (JSON-escaped again: at most twice its UTF-8 bytes, a
    4-byte character three times), field classes included. uscc and classes are validated codes;
    the name is escaped."""
    code, name = chosen.column("uscc"), chosen.column("name")
    cls, prev = chosen.column("risk_class"), chosen.column("previous_class")
    if pc.any(pc.match_substring_regex(name, _CONTROL)).as_py():
        name_json = pa.array([json.dumps(n, ensure_ascii=False) for n in name.to_pylist()], pa.string())
    else:
        escaped = pc.replace_substring(pc.replace_substring(name, "\\", "\\\\"), '"', '\\"')
        name_json = pc.binary_join_element_wise('"', escaped, '"', "")
    effective, is_adjusted = cls, pc.is_in(code, value_set=pa.array(list(adjusted), pa.string()))
    if adjusted and pc.any(is_adjusted).as_py():
        effective = pa.array(
            [adjusted[c]["adjusted_class"] if c in adjusted else k for c, k in zip(code.to_pylist(),
             cls.to_pylist(), strict=True)], pa.string())  # fmt: skip
    changed = pc.fill_null(pc.or_kleene(pc.is_null(prev), pc.not_equal(prev, cls)), True)
    prev_json = pc.fill_null(pc.binary_join_element_wise('"', prev, '"', ""), "null")
    texts = pc.binary_join_element_wise(
        '{"uscc":"', code, '","name":', name_json, ',"class":"', effective, '","model_class":"', cls,
        '","adjusted":', pc.if_else(is_adjusted, "true", "false"), ',"previous_class":', prev_json,
        ',"changed":', pc.if_else(changed, "true", "false"), ',"fields":',
        fields_json(fields, code, effective), "}", "",
    )  # fmt: skip
    sizes = np.asarray(pc.binary_length(texts), dtype=np.int64) * 2 + np.asarray(
        pc.binary_length(name), dtype=np.int64
    )
    return texts, sizes + 1
