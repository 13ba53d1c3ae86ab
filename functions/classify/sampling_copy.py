"""Write a run's sampling copy at publish time, on the run's engine (ADR 0100, 0147).

DuckDB (local runs): one sort into a single file, then the cell index, a streamed pass over
the sorted file (:func:`functions.sampling.cells.build_index`); DuckDB spills beyond its memory
limit, so a 20M-row province never sits in this process. On an S3 lake the run's Parquet is
downloaded first.

Athena (runs on Athena): the province never enters the function. Athena ignores an ORDER BY
under a CTAS and an UNLOAD keeps it only inside each file, so the order is made data: each row
carries its position ``pos`` (its cell's first position, from the cell counts, plus its rank by
uscc in the cell). One aggregate ``UNLOAD`` gives the index (count and digest per cell); the rows
are ``UNLOAD``ed partitioned by position chunk, at most 100 partitions per statement, and copied
from the scratch into the copy's ``chunks/``. The reader puts each chunk in ``pos`` order.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import tempfile
from typing import TYPE_CHECKING, Any

from functions import layout
from functions.classify.engine_athena import clear_scratch, unload_statement
from functions.errors import EngineError, StorageError
from functions.objections.adjust import approved_adjustments
from functions.sampling import cells

if TYPE_CHECKING:
    from functions.classify.engine_athena import AthenaRunner
    from functions.lake import Lake
    from functions.settings import Settings

logger = logging.getLogger(__name__)


def copy_sql(source: str, target: str, *, adjusted: bool = False) -> str:
    """The statement that writes the copy: frame columns, sorted by cell then uscc. ``adjusted``:
    the class is the approved manual adjustment's where the ``adj`` table has one (ADR 0120)."""
    order = ", ".join((*cells.CELL_KEY, "uscc"))
    cls, join = "c.risk_class", ""
    if adjusted:
        cls, join = "coalesce(a.adjusted_class, c.risk_class)", " LEFT JOIN adj a USING (uscc)"
    return (
        f"COPY (SELECT * FROM (SELECT {cls} AS risk_class, c.region_code, substr(c.industry_code, 1, 1) "
        "AS section, c.entity_type, c.uscc, c.name, c.industry_code "
        f"FROM read_parquet('{_quoted(source)}') c{join}) ORDER BY {order}) "
        f"TO '{_quoted(target)}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {cells.ROW_GROUP_SIZE})"
    )


def _quoted(path: str) -> str:
    return path.replace("'", "''")


def write_sampling_copy(
    lake: Lake,
    month: str,
    province: str,
    run_id: str,
    model: str,
    *,
    settings: Settings | None = None,
    adjust: bool = True,
) -> dict[str, Any]:
    """Sort the run's classification into its sampling copy, index it, store both; a summary.
    ``adjust``: join the approved adjustments (the general class's copy; ADR 0120)."""
    import duckdb

    from functions.classify.engine_duckdb import connect_for

    with tempfile.TemporaryDirectory(prefix="creditrisk-sampling-") as tmp:
        key = layout.run_classifications_key(run_id)
        if lake.is_local:
            source = lake.path(key)
        else:
            source = os.path.join(tmp, "classifications.parquet")
            lake.download(key, source)
        target = os.path.join(tmp, "frame.parquet")
        con = connect_for(settings, os.path.join(tmp, "spill"))
        adjusted = approved_adjustments(lake, month, province) if adjust else {}
        try:
            if adjusted:  # sampling draws by the approved class (ADR 0120); a handful of rows
                con.execute("CREATE TEMP TABLE adj (uscc VARCHAR, adjusted_class VARCHAR)")
                con.executemany("INSERT INTO adj VALUES (?, ?)",
                                [(c, a["adjusted_class"]) for c, a in sorted(adjusted.items())])  # fmt: skip
            con.execute(copy_sql(source, target, adjusted=bool(adjusted)))
        except duckdb.Error as exc:
            raise EngineError(f"DuckDB failed to write the sampling copy of run {run_id}: {exc}") from exc
        finally:
            con.close()
        index = cells.store(lake, month, province, run_id, model, target)
    summary = {
        "adjusted": len(adjusted),
        "layout": cells.LAYOUT,
        "key": layout.sampling_prefix(month, province, run_id),
        "cells": index.num_rows,
        "rows": int(sum(index["count"].to_pylist())),
    }
    logger.info("sampling copy of run %s: %s cells, %s rows", run_id, summary["cells"], summary["rows"])
    return summary


# -- on Athena (ADR 0147) -------------------------------------------------------------------------
_CELL = ", ".join(cells.CELL_KEY)


def _q(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def athena_rows(source: str, adjusted: dict[str, str]) -> str:
    """The copy's rows (Trino): the frame columns of ``source`` (the run's table), the class
    the approved adjustment's where there is one (ADR 0120, inlined: a handful per month)."""
    cls, join = "c.risk_class", ""
    if adjusted:
        values = ", ".join(f"({_q(u)}, {_q(a)})" for u, a in sorted(adjusted.items()))
        cls = "coalesce(a.adjusted_class, c.risk_class)"
        join = f" LEFT JOIN (VALUES {values}) AS a (uscc, adjusted_class) ON a.uscc = c.uscc"
    return (
        f"SELECT {cls} AS risk_class, c.region_code, substr(c.industry_code, 1, 1) AS section, "
        f"c.entity_type, c.uscc, c.name, c.industry_code FROM {source} c{join}"
    )


def athena_index_query(source: str, adjusted: dict[str, str]) -> str:
    """One row per cell: its count and the SHA-256 of its ``uscc LF`` lines in uscc order (the
    digest :func:`functions.sampling.cells.build_index` computes from the rows)."""
    digest = "lower(to_hex(sha256(to_utf8(array_join(array_agg(uscc ORDER BY uscc), chr(10)) || chr(10)))))"
    return (
        f"WITH src AS ({athena_rows(source, adjusted)})\n"
        f"SELECT {_CELL}, count(*) AS n, {digest} AS digest FROM src GROUP BY {_CELL}"
    )


def athena_copy_query(source: str, adjusted: dict[str, str], lo: int, hi: int, chunk_rows: int) -> str:
    """The copy's rows at positions ``[lo, hi)`` with their ``pos`` and chunk ``part`` (last: the
    partition column), sorted by ``pos``. ``pos`` = the cell's first position (counts of the
    cells before it, in key order) + the row's rank by uscc in its cell: the draw order is
    defined by the data, not by how Athena splits files."""
    on = " AND ".join(f"s.{c} = k.{c}" for c in cells.CELL_KEY)
    part = f"CAST((pos - mod(pos, {chunk_rows})) / {chunk_rows} AS BIGINT)"
    return (
        f"WITH src AS ({athena_rows(source, adjusted)}),\n"
        f"starts AS (SELECT {_CELL}, sum(count(*)) OVER (ORDER BY {_CELL}) - count(*) AS start "
        f"FROM src GROUP BY {_CELL}),\n"
        f"ranked AS (SELECT s.*, k.start + row_number() OVER (PARTITION BY "
        f"{', '.join(f's.{c}' for c in cells.CELL_KEY)} ORDER BY s.uscc) - 1 AS pos "
        f"FROM src s JOIN starts k ON {on})\n"
        f"SELECT {', '.join(cells.COPY_COLUMNS)}, CAST(pos AS BIGINT) AS pos, {part} AS part "
        f"FROM ranked WHERE pos >= {lo} AND pos < {hi} ORDER BY pos"
    )


def copy_statements(
    source: str, adjusted: dict[str, str], rows: int, location: str, chunk_rows: int
) -> list[tuple[str, int]]:
    """The row ``UNLOAD``s of a copy of ``rows`` rows, with the partitions each writes: one per
    ``MAX_PARTITIONS`` chunks (Athena's limit per statement)."""
    from functions.classify.engine_athena import MAX_PARTITIONS

    chunks = -(-rows // chunk_rows)
    out = []
    for a in range(0, chunks, MAX_PARTITIONS):
        b = min(a + MAX_PARTITIONS, chunks)
        query = athena_copy_query(source, adjusted, a * chunk_rows, b * chunk_rows, chunk_rows)
        out.append((unload_statement(query, location, partitioned=True), b - a))
    return out


def write_sampling_copy_athena(
    lake: Lake,
    month: str,
    province: str,
    run_id: str,
    model: str,
    *,
    source: str,
    runner: AthenaRunner,
    chunk_rows: int | None = None,
    adjust: bool = True,
) -> dict[str, Any]:
    """Have Athena write the run's sampling copy from ``source`` (the run's table, ADR 0147):
    the index from one aggregate, the rows in position chunks, copied out of the scratch.
    ``adjust``: inline the approved adjustments (the general class's copy; not a field frame's)."""
    chunk_rows = chunk_rows or cells.CHUNK_ROWS
    import pyarrow as pa
    import pyarrow.parquet as pq

    from functions.classify.engine_athena import execute
    from functions.sampling import frame as frames

    approved = approved_adjustments(lake, month, province) if adjust else {}
    adjusted = {u: str(a["adjusted_class"]) for u, a in approved.items()}
    scratch = layout.athena_unload_prefix("sampling-" + re.sub(r"[^A-Za-z0-9_.-]", "_", run_id))
    if lake.list_files(scratch, include_hidden=True):  # an UNLOAD into partitions appends
        raise EngineError(f"the sampling scratch {lake.display(scratch)} is not empty")
    try:
        execute(
            runner,
            unload_statement(athena_index_query(source, adjusted), lake.display(f"{scratch}/index") + "/"),
        )
        found = [lake.read_parquet(f.key) for f in lake.list_files(f"{scratch}/index") if f.size > 0]
        if not found:
            raise EngineError(f"Athena wrote no sampling index for run {run_id}")
        got = pa.concat_tables(found).to_pylist()
        if any(r[c] is None for r in got for c in (*cells.CELL_KEY, "digest")):
            raise StorageError(f"run {run_id} has rows without a class, region, section or entity type")
        got.sort(key=lambda r: tuple(r[c] for c in cells.CELL_KEY))  # code point order, as Trino's
        counts = [int(r["n"]) for r in got]
        starts = [0, *itertools.accumulate(counts)][: len(counts)]
        index = pa.Table.from_arrays(
            [frames.string_array([r[c] for r in got]) for c in cells.CELL_KEY]
            + [
                frames.int64_array(starts),
                frames.int64_array(counts),
                frames.string_array([r["digest"] for r in got]),
            ],
            schema=cells.INDEX_SCHEMA,
        )
        rows = sum(counts)
        for sql, partitions in copy_statements(
            source, adjusted, rows, lake.display(f"{scratch}/rows") + "/", chunk_rows
        ):
            execute(runner, sql, partitions=partitions)
        files: list[list[str]] = [[] for _ in range(-(-rows // chunk_rows))]
        had = [0] * len(files)
        prefix = layout.sampling_prefix(month, province, run_id)
        for f in lake.list_files(f"{scratch}/rows"):
            m = re.search(r"/part=(\d+)/[^/]+$", f.key)
            if f.size == 0 or m is None or int(m.group(1)) >= len(files):
                continue
            k = int(m.group(1))
            name = cells.chunk_file_name(k, len(files[k]))
            lake.copy(f.key, f"{prefix}/{name}")
            with lake.open_input_file(f"{prefix}/{name}") as stream:
                had[k] += pq.ParquetFile(stream).metadata.num_rows
            files[k].append(name)
        want = [min(chunk_rows, rows - k * chunk_rows) for k in range(len(files))]
        if had != want:
            bad = next(k for k in range(len(files)) if had[k] != want[k])
            raise EngineError(
                f"Athena wrote {had[bad]} rows for chunk {bad} of the sampling copy, not {want[bad]}"
            )
        chunks = cells.Chunks(chunk_rows, tuple(tuple(n) for n in files))
        index = cells.store_chunks(lake, month, province, run_id, model, index, chunks)
    finally:
        clear_scratch(lake, scratch)
    summary = {
        "adjusted": len(adjusted),
        "layout": cells.LAYOUT,
        "storage": cells.CHUNKS_STORAGE,
        "key": layout.sampling_prefix(month, province, run_id),
        "cells": index.num_rows,
        "rows": rows,
        "chunks": len(files),
    }
    logger.info(
        "sampling copy of run %s on Athena: %s cells, %s rows, %s chunks",
        run_id,
        index.num_rows,
        rows,
        len(files),
    )
    return summary
