"""Run the compiled Trino statement on embedded DuckDB over the lake (local folder or S3).

The lake is read through ``pyarrow.dataset`` on the lake's own filesystem (httpfs is not
available, and this keeps one code path for local and S3 lakes); DuckDB pushes projections and
filters (e.g. ``province = 'PP'``) into the Arrow scan.
"""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads

from functions.classify.compile import Compiled, to_duckdb
from functions.classify.curated_views import RESULTS_TABLE, curated_table
from functions.errors import EngineError
from functions.lake import Lake
from functions.settings import Settings
from schemas.datasets import DATASETS
from schemas.results import CLASSIFICATION_SCHEMA

logger = logging.getLogger(__name__)

CURATED_PARTITIONS = pa.schema([("province", pa.string()), ("ingest", pa.string())])
RESULTS_PARTITIONS = pa.schema([("month", pa.string()), ("province", pa.string())])


def _dataset(lake: Lake, prefix: str, schema: pa.Schema, partitions: pa.Schema) -> Any:
    """An Arrow dataset over ``prefix``, or an empty table of the same shape when nothing is there."""
    full = pa.schema(list(schema) + list(partitions))
    if not lake.list_files(prefix):
        return full.empty_table()
    return pads.dataset(
        lake.path(prefix),
        schema=full,
        filesystem=lake.fs,
        format="parquet",
        partitioning=pads.partitioning(partitions, flavor="hive"),
        exclude_invalid_files=False,
    )


def register_lake_tables(con: Any, lake: Lake, *, province: str | None = None) -> list[str]:
    """Register ``curated_<dataset>`` (all ten) and ``classifications`` (published results) as
    DuckDB views over the lake; returns the table names. ``province`` narrows the curated scan
    (the partition column stays, so queries need not change)."""
    names: list[str] = []
    for name, spec in DATASETS.items():
        prefix = f"curated/{name}" + (f"/province={province}" if province else "")
        if province:
            # keep the hive layout one level up so the province column still exists
            ds = _dataset(lake, f"curated/{name}", spec.curated_schema, CURATED_PARTITIONS)
            if isinstance(ds, pads.Dataset) and not lake.list_files(prefix):
                ds = pa.schema(list(spec.curated_schema) + list(CURATED_PARTITIONS)).empty_table()
        else:
            ds = _dataset(lake, prefix, spec.curated_schema, CURATED_PARTITIONS)
        con.register(curated_table(name), ds)
        names.append(curated_table(name))
    results = _dataset(lake, "results/classifications", CLASSIFICATION_SCHEMA, RESULTS_PARTITIONS)
    con.register(RESULTS_TABLE, results)
    names.append(RESULTS_TABLE)
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
    """An in-memory DuckDB tuned for one run: UTC, no progress bar, insertion order not kept (every
    result that needs an order says ORDER BY, and dropping it lets operators stream and spill),
    at most ``memory_limit`` (beyond it, joins/aggregates/sorts spill to ``temp_directory``)."""
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    con.execute("SET preserve_insertion_order = false")
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


def run_duckdb_to_lake(
    lake: Lake, compiled: Compiled, key: str, *, con: Any = None, settings: Settings | None = None
) -> tuple[dict[str, int], int]:
    """Execute and stream the result into one Parquet object at ``key`` (atomic: hidden temp
    object, then move), batch by batch, so the whole result never sits in memory twice.
    Returns (counts per class, rows)."""
    import posixpath
    import uuid

    import duckdb
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from schemas.results import RISK_CLASSES

    own = con is None
    spill = tempfile.TemporaryDirectory(prefix="creditrisk-duckdb-") if own else None
    con = con or connect_for(settings, spill.name if spill else None)
    final = lake.path(key)
    directory, name = posixpath.split(final)
    tmp = f"{directory}/_tmp-{uuid.uuid4().hex}-{name}"
    counts = {c: 0 for c in RISK_CLASSES}
    rows = 0
    try:
        register_lake_tables(con, lake, province=compiled.province)
        if lake.is_local:
            lake.fs.create_dir(directory, recursive=True)
        try:
            reader = con.sql(to_duckdb(compiled.sql)).to_arrow_reader(batch_size=200_000)
            with (
                lake.fs.open_output_stream(tmp) as out,
                pq.ParquetWriter(out, CLASSIFICATION_SCHEMA, compression="zstd") as writer,
            ):
                for batch in reader:
                    table = conform(pa.Table.from_batches([batch]))
                    writer.write_table(table)
                    rows += table.num_rows
                    for vc in pc.value_counts(table.column("risk_class")).to_pylist():
                        counts[str(vc["values"])] += int(vc["counts"])
        except duckdb.Error as exc:
            raise EngineError(
                f"DuckDB failed to run the compiled {compiled.system.model_ref} query: {exc}"
            ) from exc
        lake.fs.move(tmp, final)
    except BaseException:
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
    return counts, rows
