"""Run the compiled Trino statement on embedded DuckDB over the lake (local folder or S3).

A local lake is read by DuckDB's Parquet reader, an S3 lake through ``pyarrow.dataset`` on the
lake's own filesystem (httpfs is not available); either way DuckDB pushes projections and filters
(e.g. ``province = 'PP'``) into the scan. A large province runs in uscc ranges (ADR 0038). The
streamed run executes ``Compiled.keyed_sql`` and decodes the reasons in Arrow (ADR 0069);
``run_duckdb`` executes the full statement.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs

from functions.classify.compile import Compiled, to_duckdb
from functions.classify.curated_views import FIELD_RESULTS_TABLE, RESULTS_TABLE, curated_table
from functions.errors import EngineError
from functions.lake import Lake
from functions.layout import FIELD_RESULTS
from functions.settings import Settings
from schemas.datasets import DATASETS
from schemas.results import CLASSIFICATION_SCHEMA

logger = logging.getLogger(__name__)

CURATED_PARTITIONS = pa.schema([("province", pa.string()), ("ingest", pa.string())])
RESULTS_PARTITIONS = pa.schema([("month", pa.string()), ("province", pa.string())])
FIELD_PARTITIONS = pa.schema([("field", pa.string()), ("month", pa.string()), ("province", pa.string())])


def _dataset(lake: Lake, files: list[str], base: str, schema: pa.Schema, partitions: pa.Schema) -> Any:
    """An Arrow dataset over ``files`` (keys), partition values parsed below ``base``."""
    return pads.dataset(
        [lake.path(key) for key in files],
        schema=pa.schema(list(schema) + list(partitions)),
        filesystem=lake.fs,
        format="parquet",
        partitioning=pads.partitioning(partitions, flavor="hive"),
        partition_base_dir=lake.path(base),
        exclude_invalid_files=False,
    )


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _register(
    con: Any, name: str, lake: Lake, prefix: str, base: str, schema: pa.Schema, partitions: pa.Schema
) -> None:
    """Register ``name`` over the Parquet files under ``prefix`` (hidden files skipped), with the
    hive partitions of their keys below ``base``.

    A local lake is read by DuckDB's own Parquet reader (ADR 0038): parallel per row group and
    inside ``memory_limit``, where an Arrow dataset scan buffers outside it (the 100M-record run
    went well past the limit that way). Other file systems (S3: httpfs cannot be installed here)
    go through ``pyarrow.dataset`` on the lake's own filesystem. Either way the view has exactly
    ``schema`` + ``partitions``, in the contract's types (a column missing from every file reads
    as NULL), and partition values stay text (``province = '13'``, never an integer)."""
    full = pa.schema(list(schema) + list(partitions))
    files = lake.list_files(prefix)
    con.execute(f'DROP VIEW IF EXISTS "{name}"')
    if not files or not lake.is_local:
        keys = [f.key for f in files]
        con.register(name, _dataset(lake, keys, base, schema, partitions) if files else full.empty_table())
        return
    paths = ", ".join(_quote(lake.path(f.key)) for f in files)
    hive = ", ".join(f"{_quote(p.name)}: 'VARCHAR'" for p in partitions)
    source = (
        f"read_parquet([{paths}], hive_partitioning = true, hive_types = {{{hive}}}, "
        "hive_types_autocast = false, union_by_name = true)"
    )
    present = {str(row[0]): str(row[1]) for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    types = _duck_types(con, full)

    def column(f: pa.Field) -> str:
        if present.get(f.name) == types[f.name]:
            return f'"{f.name}"'  # no cast: filters on it still push down into the scan
        value = f'"{f.name}"' if f.name in present else "NULL"
        return f'CAST({value} AS {types[f.name]}) AS "{f.name}"'

    cols = ", ".join(column(f) for f in full)
    con.execute(f'CREATE OR REPLACE TEMP VIEW "{name}" AS SELECT {cols} FROM {source}')


def _duck_types(con: Any, schema: pa.Schema) -> dict[str, str]:
    """DuckDB's type for each Arrow field of the contract."""
    rel = con.from_arrow(schema.empty_table())
    return {str(name): str(t) for name, t in zip(rel.columns, rel.types, strict=True)}


def register_lake_tables(con: Any, lake: Lake, *, province: str | None = None) -> list[str]:
    """Register ``curated_<dataset>`` (all ten) and ``classifications`` (published results) as
    DuckDB views over the lake; returns the table names. ``province`` narrows the curated scan
    to that province's files (the partition column stays, so queries need not change)."""
    names: list[str] = []
    for name, spec in DATASETS.items():
        prefix = f"curated/{name}" + (f"/province={province}" if province else "")
        _register(
            con, curated_table(name), lake, prefix, f"curated/{name}", spec.curated_schema, CURATED_PARTITIONS
        )
        names.append(curated_table(name))
    results = "results/classifications"
    _register(con, RESULTS_TABLE, lake, results, results, CLASSIFICATION_SCHEMA, RESULTS_PARTITIONS)
    names.append(RESULTS_TABLE)
    fields = FIELD_RESULTS
    _register(con, FIELD_RESULTS_TABLE, lake, fields, fields, CLASSIFICATION_SCHEMA, FIELD_PARTITIONS)
    names.append(FIELD_RESULTS_TABLE)
    return names


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def connect(
    *,
    threads: int | None = None,
    memory_limit: str | None = None,
    temp_directory: str | None = None,
) -> Any:
    """An in-memory DuckDB tuned for one run: UTC, no progress bar, insertion order kept (the
    classification is sorted in a subquery and projected after, ADR 0039: DuckDB documents that
    a SELECT or WHERE over an ordered subquery keeps its order only with this setting), at most
    ``memory_limit`` (beyond it, joins/aggregates/sorts spill to ``temp_directory``)."""
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    con.execute("SET preserve_insertion_order = true")
    con.execute(f"SET threads = {int(threads or usable_cores())}")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    if temp_directory:
        con.execute(f"SET temp_directory = '{temp_directory}'")
    return con


def connect_for(settings: Settings | None, temp_directory: str | None = None) -> Any:
    """``connect`` with the run's settings (memory limit, spill folder, threads)."""
    if settings is None:
        return connect(temp_directory=temp_directory)
    return connect(
        threads=settings.duckdb_threads,
        memory_limit=settings.duckdb_memory_limit,
        temp_directory=settings.duckdb_temp_directory or temp_directory,
    )


def run_duckdb(lake: Lake, compiled: Compiled, *, con: Any = None) -> pa.Table:
    """Execute the compiled statement; the result has exactly ``CLASSIFICATION_SCHEMA``."""
    import duckdb

    own = con is None
    con = con or connect()
    try:
        register_lake_tables(con, lake, province=compiled.province)
        sql = to_duckdb(compiled.sql)
        try:
            table = con.sql(sql).to_arrow_table()
        except duckdb.Error as exc:
            raise EngineError(
                f"DuckDB failed to run the compiled {compiled.system.model_ref} query: {exc}"
            ) from exc
        return conform(table)
    finally:
        if own:
            con.close()


def conform(table: pa.Table) -> pa.Table:
    """Cast to the results contract (field names, nullability, list item names)."""
    try:
        arrays = [table.column(f.name).cast(f.type) for f in CLASSIFICATION_SCHEMA]
    except (KeyError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise EngineError(f"engine output does not match the results contract: {exc}") from exc
    return pa.Table.from_arrays(arrays, schema=CLASSIFICATION_SCHEMA)


def conform_keyed(table: pa.Table, labels: tuple[tuple[str, str], ...]) -> pa.Table:
    """A batch of ``Compiled.keyed_sql`` in the wire form of the contract: reasons decoded from
    their ranked keys, code and label as dictionaries (ADR 0069)."""
    import pyarrow.compute as pc

    from functions.classify.reasons import FEW_VALUES, WIRE_SCHEMA, decode_reasons

    def wire(f: pa.Field) -> Any:
        column = table.column(f.name)
        if f.name == "reasons":
            return decode_reasons(column.combine_chunks(), labels)
        if f.name in FEW_VALUES:
            return pc.dictionary_encode(column.cast(pa.string()).combine_chunks())
        return column.cast(f.type)

    try:
        arrays = [wire(f) for f in WIRE_SCHEMA]
    except (KeyError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise EngineError(f"engine output does not match the results contract: {exc}") from exc
    return pa.Table.from_arrays(arrays, schema=WIRE_SCHEMA)


def _prepared(batches: Any, prepare: Any) -> Any:
    """``prepare(batch)`` for each batch, one batch ahead on a second thread: fetching from DuckDB
    and the Arrow kernels release the GIL, so they overlap the caller's write of the previous one."""
    from concurrent.futures import Future, ThreadPoolExecutor

    source = iter(batches)

    def step() -> pa.Table | None:
        batch = next(source, None)
        return None if batch is None else prepare(batch)

    with ThreadPoolExecutor(max_workers=1) as pool:
        ahead: Future[pa.Table | None] = pool.submit(step)
        while (table := ahead.result()) is not None:
            ahead = pool.submit(step)
            yield table


def check_order(uscc: pa.ChunkedArray, after: str | None) -> str | None:
    """The batch's last uscc, after checking that its codes rise strictly and follow ``after``
    (the previous batch's last): the published file is sorted by uscc and has one row per entity,
    and the order comes from a subquery (ADR 0039), so a broken order stops the run instead of
    being published."""
    import pyarrow.compute as pc

    codes = uscc.combine_chunks()
    if len(codes) == 0:
        return after
    first, last = codes[0].as_py(), codes[-1].as_py()
    rising = len(codes) < 2 or pc.all(pc.less(codes.slice(0, len(codes) - 1), codes.slice(1))).as_py()
    if not rising or (after is not None and not after < first):
        raise EngineError(
            "DuckDB returned the classification out of uscc order (or an entity twice); nothing was "
            "published",
            after=after,
            first=first,
        )
    return str(last)


# Columns whose min/max the result file keeps: what readers filter on (one entity, a class, a
# score band, a region). Statistics of names, labels and nested reasons serve no reader and cost
# a tenth of the write.
STATISTICS = (
    "uscc",
    "entity_type",
    "region_code",
    "industry_code",
    "risk_score",
    "risk_class",
    "previous_class",
    "model",
    "run_id",
)


def leaf_paths(schema: pa.Schema) -> list[str]:
    """The Parquet column paths of ``schema``'s leaves as pyarrow names them (lists written in
    the compliant ``<name>.list.element`` form)."""

    def walk(prefix: str, t: pa.DataType) -> list[str]:
        if pa.types.is_struct(t):
            return [
                p for i in range(t.num_fields) for p in walk(f"{prefix}.{t.field(i).name}", t.field(i).type)
            ]
        if pa.types.is_list(t):
            return walk(f"{prefix}.list.element", t.value_type)
        return [prefix]

    return [p for f in schema for p in walk(f.name, f.type)]


# Dictionary-encode every column but the two that hold one value per entity: their dictionary
# only grows until the writer gives up on it (the file is smaller and written faster without).
DICTIONARY = [p for p in leaf_paths(CLASSIFICATION_SCHEMA) if p not in ("uscc", "name")]


# Memory one classified entity needs in a run (hash tables of the nine aggregations and joins,
# the sort): the 10M-entity / 100M-record bench held 2.5M entities per range in ~5 GB (ADR 0038).
BYTES_PER_ENTITY = 2400
UNITS = {
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}


@dataclass(frozen=True)
class DuckRun:
    """What a DuckDB run wrote: class counts, rows, and the uscc ranges it ran in (one range,
    ``(None, None)``, for a province that fits the memory limit)."""

    counts: dict[str, int]
    rows: int
    ranges: list[tuple[str | None, str | None]]


def memory_bytes(limit: str) -> int:
    """``6GB`` / ``512 MiB`` -> bytes (the forms ``Settings.duckdb_memory_limit`` accepts)."""
    found = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]i?B)\s*", limit, re.IGNORECASE)
    if found is None:
        raise ValueError(f"not a memory size: {limit!r}")
    return int(float(found.group(1)) * UNITS[found.group(2).upper()])


def entities_per_range(settings: Settings | None) -> int:
    """How many entities one query may classify: ``Settings.duckdb_range_entities``, else what
    the memory limit holds."""
    if settings is not None and settings.duckdb_range_entities:
        return settings.duckdb_range_entities
    limit = settings.duckdb_memory_limit if settings is not None else "6GB"
    return max(1, memory_bytes(limit) // BYTES_PER_ENTITY)


def uscc_ranges(con: Any, province: str, per_range: int) -> list[tuple[str | None, str | None]]:
    """Split the province's entities into uscc ranges of at most about ``per_range`` each, from
    the quantiles of their codes: ranges are contiguous, ordered and cover every code."""
    entities = curated_table("entities")
    total = int(
        con.execute(f"SELECT count(*) FROM {entities} WHERE province = ?", [province]).fetchall()[0][0]
    )
    parts = -(-total // per_range) if total else 1
    if parts <= 1:
        return [(None, None)]
    cuts = ", ".join(repr(i / parts) for i in range(1, parts))
    found = con.execute(
        f"SELECT quantile_disc(uscc, [{cuts}]) FROM {entities} WHERE province = ?",
        [province],
    ).fetchall()[0][0]
    edges: list[str | None] = [None, *sorted({q for q in found if q is not None}), None]
    return list(itertools.pairwise(edges))


def ranged(sql: str, low: str | None, high: str | None) -> str:
    """The DuckDB statement restricted to ``low <= uscc < high``. The filter wraps the compiled
    statement unchanged, so it means exactly "these rows of the result"; DuckDB pushes it down
    into every scan that feeds a uscc (aggregations, joins), which is what bounds the memory. A
    WHERE keeps the statement's uscc order (``connect``), so the ranges need no sort of their own."""
    conds = []
    if low is not None:
        conds.append(f"uscc >= {_quote(low)}")
    if high is not None:
        conds.append(f"uscc < {_quote(high)}")
    if not conds:
        return sql
    return f"SELECT * FROM ({sql}) AS ranged WHERE {' AND '.join(conds)}"


def run_duckdb_to_lake(
    lake: Lake, compiled: Compiled, key: str, *, con: Any = None, settings: Settings | None = None
) -> DuckRun:
    """Execute and stream the result into one Parquet object at ``key``, batch by batch, so the
    whole result never sits in memory twice. A province larger than the memory limit runs range
    by range, in uscc order, into the same object (ADR 0038). Atomic: in a folder a hidden temp
    file moved in place; on S3 a local temp file uploaded by ``Lake.write_file`` (no temporary
    object, copy or delete on S3: ADR 0075)."""
    import posixpath
    import uuid

    import duckdb
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from functions.classify.reasons import WIRE_SCHEMA
    from schemas.results import RISK_CLASSES

    own = con is None
    spill = tempfile.TemporaryDirectory(prefix="creditrisk-duckdb-") if own else None
    con = con or connect_for(settings, spill.name if spill else None)
    final = lake.path(key)
    directory, name = posixpath.split(final)
    staging = None if lake.is_local else tempfile.TemporaryDirectory(prefix="creditrisk-result-")
    tmp = f"{directory}/_tmp-{uuid.uuid4().hex}-{name}" if staging is None else f"{staging.name}/{name}"
    out_fs = lake.fs if staging is None else pafs.LocalFileSystem()
    counts = {c: 0 for c in RISK_CLASSES}
    rows = 0
    last: str | None = None
    try:
        register_lake_tables(con, lake, province=compiled.province)
        if lake.is_local:
            lake.fs.create_dir(directory, recursive=True)
        # the statement without the reasons' final decode, done in Arrow (ADR 0069)
        sql = to_duckdb(compiled.keyed_sql)

        def prepare(batch: pa.RecordBatch) -> pa.Table:
            return conform_keyed(pa.Table.from_batches([batch]), compiled.reason_labels)

        try:
            ranges = uscc_ranges(con, compiled.province, entities_per_range(settings))
            with (
                out_fs.open_output_stream(tmp) as out,
                pq.ParquetWriter(
                    out,
                    WIRE_SCHEMA,
                    compression="zstd",
                    write_statistics=list(STATISTICS),
                    use_dictionary=DICTIONARY,
                    # the file's types are the Parquet ones (plain strings), not the dictionaries
                    # handed to the writer; nothing else differs from the stored Arrow schema
                    store_schema=False,
                ) as writer,
            ):
                for n, (low, high) in enumerate(ranges, 1):
                    if len(ranges) > 1:
                        logger.info("range %s of %s", n, len(ranges))
                    batches = con.sql(ranged(sql, low, high)).to_arrow_reader(batch_size=200_000)
                    # batch k+1 is fetched and put in the contract's form while batch k is written
                    for table in _prepared(batches, prepare):
                        last = check_order(table.column("uscc"), last)
                        writer.write_table(table)
                        rows += table.num_rows
                        for vc in pc.value_counts(table.column("risk_class")).to_pylist():
                            counts[str(vc["values"])] += int(vc["counts"])
        except duckdb.Error as exc:
            raise EngineError(
                f"DuckDB failed to run the compiled {compiled.system.model_ref} query: {exc}"
            ) from exc
        if staging is None:
            lake.fs.move(tmp, final)
        else:
            lake.write_file(key, tmp)
    except BaseException:
        if staging is None:
            try:
                lake.fs.delete_file(tmp)
            except OSError:
                logger.debug("temporary object %s not written", tmp)
        raise
    finally:
        if own:
            con.close()
        if spill is not None:
            spill.cleanup()
        if staging is not None:
            staging.cleanup()
    return DuckRun(counts, rows, ranges)
