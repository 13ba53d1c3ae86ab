"""The changed rows of a published run, written once at publish time (docs/adr/0121).

The change feed used to scan the month's partition for rows whose class differs from the
previous month's: with ~4% of entities changing, a page of 5000 changes decoded ~130k rows
(p95 231 ms at 20M entities). At publish time the run's Parquet is streamed once (four
columns, one batch at a time, never the whole province) and the changed rows, in the
partition's order, are written to a small file beside it; the feed then pages through that
file by row position like the bulk read pages through the partition.

On Athena (ADR 0152) the run's Parquet never enters the function: Athena selects the changed rows
from the run's table, numbers them by uscc (``pos``, the order is data: an UNLOAD keeps it only
inside each file) and UNLOADs them partitioned by position chunk of :data:`ROW_GROUP` rows; the
function copies the files (server-side) beside the run and lists them in ``chunks.json``. The
feed reads a chunk as it reads a row group (:class:`ChunkedChanges`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from functions import layout
from functions.errors import EngineError, StorageError

if TYPE_CHECKING:
    from functions.classify.engine_athena import AthenaRunner
    from functions.lake import Lake

logger = logging.getLogger(__name__)
COLUMNS = ["uscc", "name", "risk_class", "previous_class", "run_id"]
ROW_GROUP = 50_000
_BATCH = 131_072


def changed(batch: pa.RecordBatch | pa.Table) -> pa.Array:
    """Rows that are new this month (no previous class) or whose model class changed."""
    prev, cls = batch.column("previous_class"), batch.column("risk_class")
    return pc.fill_null(pc.or_kleene(pc.is_null(prev), pc.not_equal(prev, cls)), True)


def write_changes(lake: Lake, month: str, province: str, run_id: str, *, source: str | None = None) -> int:
    """Stream the run's Parquet (``source``: another copy of it) and store its changed rows;
    the number of changed rows."""
    source = source or layout.run_classifications_key(run_id)
    count = 0
    with tempfile.TemporaryDirectory(prefix="creditrisk-changes-") as tmp:
        path = os.path.join(tmp, "changes.parquet")
        try:
            with lake.open_input_file(source) as f:
                pf = pq.ParquetFile(f)
                schema = pf.schema_arrow
                out_schema = pa.schema([schema.field(c) for c in COLUMNS])
                with pq.ParquetWriter(path, out_schema, compression="zstd") as writer:
                    held: list[pa.RecordBatch] = []  # at most ROW_GROUP + one batch of rows
                    for batch in pf.iter_batches(batch_size=_BATCH, columns=COLUMNS):
                        keep = batch.filter(changed(batch))
                        held.append(keep)
                        count += keep.num_rows
                        if sum(b.num_rows for b in held) >= ROW_GROUP:
                            writer.write_table(pa.Table.from_batches(held, out_schema), ROW_GROUP)
                            held = []
                    if held:
                        writer.write_table(pa.Table.from_batches(held, out_schema), ROW_GROUP)
        except (OSError, pa.ArrowInvalid) as exc:
            raise StorageError(f"cannot write the changed rows of run {run_id}: {exc}") from exc
        lake.write_file(layout.changes_key(month, province, run_id), path)
    logger.info("run %s: %s changed rows written for the change feed", run_id, count)
    return count


# -- on Athena (ADR 0152) -------------------------------------------------------------------------
CHUNKS_FILE = "chunks.json"
_CHANGED_SQL = "NOT coalesce(previous_class = risk_class, false)"  # as :func:`changed`: null → changed


def athena_count_query(source: str) -> str:
    """How many rows of ``source`` (the run's table) changed."""
    return f"SELECT count(*) AS n FROM {source} WHERE {_CHANGED_SQL}"


def athena_rows_query(source: str, lo: int, hi: int, chunk_rows: int) -> str:
    """The changed rows at positions ``[lo, hi)`` in uscc order, with ``pos`` and their chunk
    ``part`` (last: the partition column), sorted by ``pos``. Only the changed rows (~4 % of a
    province) are sorted."""
    cols = ", ".join(COLUMNS)
    part = f"CAST((pos - mod(pos, {chunk_rows})) / {chunk_rows} AS BIGINT)"
    return (
        f"WITH changed AS (SELECT {cols}, row_number() OVER (ORDER BY uscc) - 1 AS pos "
        f"FROM {source} WHERE {_CHANGED_SQL})\n"
        f"SELECT {cols}, CAST(pos AS BIGINT) AS pos, {part} AS part "
        f"FROM changed WHERE pos >= {lo} AND pos < {hi} ORDER BY pos"
    )


def athena_statements(source: str, rows: int, location: str, chunk_rows: int) -> list[tuple[str, int]]:
    """The row ``UNLOAD``s for ``rows`` changed rows, with the partitions each writes (at most
    ``MAX_PARTITIONS`` chunks per statement)."""
    from functions.classify import engine_athena

    chunks = -(-rows // chunk_rows)
    out = []
    for a in range(0, chunks, engine_athena.MAX_PARTITIONS):
        b = min(a + engine_athena.MAX_PARTITIONS, chunks)
        query = athena_rows_query(source, a * chunk_rows, b * chunk_rows, chunk_rows)
        out.append((engine_athena.unload_statement(query, location, partitioned=True), b - a))
    return out


def write_changes_athena(
    lake: Lake,
    month: str,
    province: str,
    run_id: str,
    *,
    source: str,
    runner: AthenaRunner,
    chunk_rows: int | None = None,
) -> int:
    """Have Athena write the run's changed rows from ``source`` (the run's table) in position
    chunks beside the run; the number of changed rows. Only footers and the count's one-row
    result are read here."""
    from functions.classify.engine_athena import clear_scratch, execute, unload_statement

    chunk_rows = chunk_rows or ROW_GROUP
    scratch = layout.athena_unload_prefix("changes-" + re.sub(r"[^A-Za-z0-9_.-]", "_", run_id))
    if lake.list_files(scratch, include_hidden=True):  # a partitioned UNLOAD appends
        raise EngineError(f"the change feed scratch {lake.display(scratch)} is not empty")
    prefix = layout.changes_chunks_prefix(month, province, run_id)
    try:
        execute(runner, unload_statement(athena_count_query(source), lake.display(f"{scratch}/count") + "/"))
        found = [lake.read_parquet(f.key) for f in lake.list_files(f"{scratch}/count") if f.size > 0]
        if len(found) != 1 or found[0].num_rows != 1:
            raise EngineError(f"Athena wrote no count of the changed rows of run {run_id}")
        rows = int(found[0].column("n")[0].as_py())
        for sql, partitions in athena_statements(
            source, rows, lake.display(f"{scratch}/rows") + "/", chunk_rows
        ):
            execute(runner, sql, partitions=partitions)
        files: list[list[str]] = [[] for _ in range(-(-rows // chunk_rows))]
        had = [0] * len(files)
        for f in lake.list_files(f"{scratch}/rows"):
            m = re.search(r"/part=(\d+)/[^/]+$", f.key)
            if f.size == 0 or m is None or int(m.group(1)) >= len(files):
                continue
            k = int(m.group(1))
            name = f"{k}-{len(files[k])}.parquet"
            lake.copy(f.key, f"{prefix}/{name}")
            with lake.open_input_file(f"{prefix}/{name}") as stream:  # the footer only
                had[k] += pq.ParquetFile(stream).metadata.num_rows
            files[k].append(name)
        want = [min(chunk_rows, rows - k * chunk_rows) for k in range(len(files))]
        if had != want:
            bad = next(k for k in range(len(files)) if had[k] != want[k])
            raise EngineError(f"Athena wrote {had[bad]} changed rows for chunk {bad}, not {want[bad]}")
        # written last: the feed finds the chunks through it
        lake.write_json(
            f"{prefix}/{CHUNKS_FILE}",
            {"run_id": run_id, "rows": rows, "chunk_rows": chunk_rows, "files": files},
        )
    finally:
        clear_scratch(lake, scratch)
    logger.info("run %s: %s changed rows written by Athena for the change feed", run_id, rows)
    return rows


@dataclass(frozen=True)
class _Group:
    num_rows: int


class ChunkedChanges:
    """An Athena-written change feed read like one Parquet file whose row groups are its
    chunks (``metadata.num_rows``, ``metadata.num_row_groups``, ``metadata.row_group(i)``,
    ``read_row_group``): the feed's paging is unchanged. A chunk of several files is merged by
    ``pos``; its positions must be exactly its own, or the read fails."""

    def __init__(self, lake: Lake, prefix: str, listing: dict[str, Any]) -> None:
        self.lake, self.prefix = lake, prefix
        self.rows, self.chunk_rows = int(listing["rows"]), int(listing["chunk_rows"])
        self.files: list[list[str]] = [list(f) for f in listing["files"]]

    @classmethod
    def open(cls, lake: Lake, month: str, province: str, run_id: str) -> ChunkedChanges | None:
        prefix = layout.changes_chunks_prefix(month, province, run_id)
        key = f"{prefix}/{CHUNKS_FILE}"
        if lake.info(key) is None:
            return None
        try:
            return cls(lake, prefix, json.loads(lake.read_bytes(key)))
        except (ValueError, KeyError, TypeError) as exc:
            raise StorageError(f"the change feed listing {lake.display(key)} is unreadable: {exc}") from exc

    @property
    def metadata(self) -> ChunkedChanges:
        return self

    @property
    def num_row_groups(self) -> int:
        return len(self.files)

    def row_group(self, i: int) -> _Group:
        return _Group(min(self.chunk_rows, self.rows - i * self.chunk_rows))

    def read_row_group(self, i: int, columns: list[str]) -> pa.Table:
        want = self.row_group(i).num_rows
        first = i * self.chunk_rows
        parts = []
        for name in self.files[i]:
            with self.lake.open_input_file(f"{self.prefix}/{name}") as f:
                parts.append(
                    pq.read_table(f, columns=[*columns, "pos"] if len(self.files[i]) > 1 else columns)
                )
        table = pa.concat_tables(parts) if parts else None
        if table is None or table.num_rows != want:
            got = 0 if table is None else table.num_rows
            raise StorageError(
                f"chunk {i} of the change feed {self.lake.display(self.prefix)} holds {got} rows, not {want}"
            )
        if len(parts) > 1:  # Athena's files of one chunk are not in order relative to each other
            table = table.sort_by("pos")
            pos = table.column("pos").to_numpy()
            if pos[0] != first or pos[-1] != first + want - 1 or (pos[1:] - pos[:-1] != 1).any():
                raise StorageError(
                    f"chunk {i} of the change feed {self.lake.display(self.prefix)} has wrong positions"
                )
            table = table.drop_columns(["pos"])
        return table
