"""Professional-field classification beside the general class (专业领域分级分类, docs/adr/0117, 0118).

After the general run of a month is published, each field system (``schemas/fields.yaml``) is
compiled and run on the same engine SQL as the general one, over the field's population only.
A field run keeps two files in its run folder:

- ``field_classifications.parquet``: the field's own class, score and reasons (published to
  ``results/field_classifications/field=<f>/month=<M>/province=<PP>/``);
- ``classifications.parquet``: the field's *sampling frame*, the same rows with ``risk_class``
  set by the combination rule (the stricter of the general and the field class). Plans that
  name the field are drawn from it, through its sampling copy, and verified against it.

The combined view (:func:`combined`) puts the general class and each field's class of an entity
side by side.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import tempfile
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from functions import layout
from functions.classify.compile import compile_by_type, datasets_read
from functions.classify.curated_views import RESULTS_TABLE
from functions.classify.load import load_system
from functions.errors import EngineError, InvalidInput, NotFound
from functions.months import month_end
from schemas.fields import FIELDS, FIELDS_FILE, combine
from schemas.results import CLASSIFICATION_SCHEMA, RISK_CLASSES

if TYPE_CHECKING:
    from functions.classify.compile import Compiled
    from functions.classify.run import RunResult
    from functions.classify.system import System
    from functions.lake import Lake
    from functions.settings import Settings

logger = logging.getLogger(__name__)
FIELD_RESULT = "field_classifications.parquet"


def check_fields(names: Sequence[str]) -> tuple[str, ...]:
    """``names`` as known fields (a clear ``InvalidInput`` naming the known ones otherwise)."""
    unknown = sorted(set(names) - set(FIELDS))
    if unknown:
        raise InvalidInput(
            f"unknown field(s) {', '.join(unknown)}; known: {', '.join(FIELDS)}", field="fields"
        )
    return tuple(dict.fromkeys(names))


def field_result_key(run_id: str) -> str:
    return layout.field_result_key(run_id)


def stricter(general: str | None, field: str) -> str:
    """The combination rule (``schemas/fields.yaml``; :func:`schemas.fields.combine`)."""
    return combine(general, field)


def _frame_columns() -> str:
    """The frame's select list on either engine: the field's columns, ``risk_class`` by the
    combination rule (classes are letters A–D, so the stricter one is the greater)."""
    return ", ".join(
        "CASE WHEN g.risk_class IS NOT NULL AND g.risk_class > f.risk_class THEN g.risk_class "
        "ELSE f.risk_class END AS risk_class"
        if c == "risk_class"
        else f"f.{c} AS {c}"
        for c in CLASSIFICATION_SCHEMA.names
    )


def frame_sql(field_path: str, general_path: str | None) -> str:
    """The field's sampling frame: its rows in uscc order, ``risk_class`` by the combination rule
    (classes are letters A–D, so the stricter one is the greater)."""
    cols = _frame_columns()
    general = (
        f"(SELECT uscc, risk_class FROM read_parquet('{_quoted(general_path)}'))"
        if general_path
        else "(SELECT CAST(NULL AS VARCHAR) AS uscc, CAST(NULL AS VARCHAR) AS risk_class WHERE FALSE)"
    )
    return (
        f"SELECT {cols} FROM read_parquet('{_quoted(field_path)}') AS f "
        f"LEFT JOIN {general} AS g ON g.uscc = f.uscc ORDER BY f.uscc"
    )


def _quoted(path: str) -> str:
    return path.replace("'", "''")


def write_frame(
    lake: Lake, run_id: str, general_key: str | None, *, settings: Settings | None = None
) -> dict[str, int]:
    """Write the field run's sampling frame (``classifications.parquet`` of the run) from its
    field result and the published general result; returns the rows per sampling class."""
    import duckdb
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from functions.classify.engine_duckdb import conform, connect_for

    counts = {c: 0 for c in RISK_CLASSES}
    with tempfile.TemporaryDirectory(prefix="creditrisk-field-") as tmp:

        def local(key: str, name: str) -> str:
            return _local_file(lake, key, tmp, name)

        field_path = local(field_result_key(run_id), "field.parquet")
        general_path = local(general_key, "general.parquet") if general_key else None
        target = os.path.join(tmp, "frame.parquet")
        con = connect_for(settings, os.path.join(tmp, "spill"))
        try:
            reader = con.sql(frame_sql(field_path, general_path)).to_arrow_reader(batch_size=200_000)
            with pq.ParquetWriter(target, CLASSIFICATION_SCHEMA, compression="zstd") as writer:
                for batch in reader:
                    table = conform(pa.Table.from_batches([batch]))
                    writer.write_table(table)
                    for vc in pc.value_counts(table.column("risk_class")).to_pylist():
                        counts[str(vc["values"])] += int(vc["counts"])
        except duckdb.Error as exc:
            raise EngineError(
                f"DuckDB failed to write the sampling frame of field run {run_id}: {exc}"
            ) from exc
        finally:
            con.close()
        lake.write_file(layout.run_classifications_key(run_id), target)
    return counts


def classify_fields(
    lake: Lake,
    general: RunResult,
    *,
    fields: Sequence[str],
    settings: Settings,
    engine: str,
    cutoff: dt.datetime,
    boto3_session: Any = None,
    athena_runner: Any = None,
) -> dict[str, dict[str, Any]]:
    """Classify and publish every field of ``fields`` for the general run's month and province;
    the summary per field (run id, counts of the field class and of the sampling class)."""
    out: dict[str, dict[str, Any]] = {}
    for name in check_fields(fields):
        done = classify_field(
            lake,
            name,
            general,
            settings=settings,
            engine=engine,
            cutoff=cutoff,
            boto3_session=boto3_session,
            athena_runner=athena_runner,
        )
        out[name] = {
            "run_id": done["run_id"],
            "model": done["model"],
            "counts": done["counts"],
            "sampling_counts": done["sampling_counts"],
        }
    return out


def classify_field(
    lake: Lake,
    field: str,
    general: RunResult,
    *,
    settings: Settings,
    engine: str,
    cutoff: dt.datetime,
    boto3_session: Any = None,
    athena_runner: Any = None,
) -> dict[str, Any]:
    """One field's run: compile, execute, write its sampling frame, keep the manifest, publish."""
    from functions.classify.run import ingest_plan, input_files, new_run_id

    t0 = time.perf_counter()
    month, province = general.month, general.province
    system = load_system(FIELDS[field].system)
    started = dt.datetime.now(dt.UTC)
    run_id = f"{new_run_id(month, province, started)}-{field.replace('_', '-')}"
    datasets = datasets_read(system)
    inputs = input_files(lake, province, datasets)
    compiled = compile_by_type(
        [(system, tuple(system.entity_types))],
        month=month,
        province=province,
        cutoff=cutoff,
        run_id=run_id,
        ingests=ingest_plan(inputs, datasets, cutoff),
    )
    if engine == "duckdb":
        from functions.classify.engine_duckdb import run_duckdb_to_lake

        done = run_duckdb_to_lake(lake, compiled, field_result_key(run_id), settings=settings)
        counts, rows = done.counts, done.rows
    elif engine == "athena":
        from functions.classify.engine_athena import ctas_table_name, run_athena, runner_for

        runner = runner_for(settings, boto3_session, athena_runner)
        # the field's table stays: Athena writes the frame and its sampling copy from it (ADR 0152)
        counts, rows = run_athena(lake, compiled, settings=settings, runner=runner, keep_table=True)
        tables = [f"{settings.athena_database}.{ctas_table_name(run_id)}"]
    else:
        raise InvalidInput(f"engine must be duckdb or athena, got {engine!r}", field="engine")
    if engine == "athena":
        try:
            lake.copy(layout.run_classifications_key(run_id), field_result_key(run_id))
            tables.append(f"{settings.athena_database}.{ctas_table_name(frame_run_id(run_id))}")
            sampling_counts = write_frame_athena(
                lake, run_id, tables[0], general, settings=settings, runner=runner
            )
            manifest = _field_manifest(field, general, compiled, system, run_id, inputs, rows, counts,
                                       sampling_counts, cutoff, engine, t0, lake)  # fmt: skip
            publish_field(lake, manifest, settings=settings, athena=(runner, tables[-1]))
        finally:
            _drop(runner, tables)
        logger.info(
            "classified field %s of %s %s on Athena: %s rows, %s", field, province, month, rows, counts
        )
        return manifest
    general_key = layout.run_classifications_key(general.run_id)
    sampling_counts = write_frame(lake, run_id, general_key, settings=settings)
    manifest = _field_manifest(field, general, compiled, system, run_id, inputs, rows, counts,
                               sampling_counts, cutoff, engine, t0, lake)  # fmt: skip
    publish_field(lake, manifest, settings=settings)
    logger.info("classified field %s of %s %s: %s rows, %s", field, province, month, rows, counts)
    return manifest


def _field_manifest(
    field: str,
    general: RunResult,
    compiled: Compiled,
    system: System,
    run_id: str,
    inputs: list[dict[str, Any]],
    rows: int,
    counts: dict[str, int],
    sampling_counts: dict[str, int],
    cutoff: dt.datetime,
    engine: str,
    t0: float,
    lake: Lake,
) -> dict[str, Any]:
    """The field run's manifest, stored in its run folder."""
    month, province = general.month, general.province
    manifest: dict[str, Any] = {
        "run_id": run_id,
        "field": field,
        "general_run_id": general.run_id,
        "combination": FIELDS_FILE.combination,
        "supersedes": published_field_run_id(lake, field, month, province),
        "month": month,
        "province": province,
        "period_end": month_end(month).isoformat(),
        "cutoff": cutoff.isoformat(),
        "model": system.model_ref,
        "model_hash": system.content_hash(),
        "models": dict(compiled.models),
        "model_hashes": {system.model_ref: system.content_hash()},
        "engine": engine,
        "inputs": inputs,
        "rows": rows,
        "counts": counts,
        "sampling_counts": sampling_counts,
        "statements": compiled.statements,
        "timings": {"total_s": time.perf_counter() - t0},
    }
    lake.write_json(f"{layout.run_prefix(run_id)}/manifest.json", manifest)
    return manifest


def frame_run_id(run_id: str) -> str:
    """The name under which the field frame's temporary table is made (``classify_run_*``: the
    classify role may create and drop those only)."""
    return f"{run_id}-frame"


def athena_frame_sql(field_table: str, month: str, province: str, general_run_id: str) -> str:
    """:func:`frame_sql` on Athena: the field's table joined with the general run as published
    (the ``classifications`` table, one partition; the run id pins the run)."""
    cols = _frame_columns()
    general = (
        f"(SELECT uscc, risk_class FROM {RESULTS_TABLE} WHERE month = '{month}' AND province = '{province}' "
        f"AND run_id = '{general_run_id}')"
    )
    return f"SELECT {cols} FROM {field_table} AS f LEFT JOIN {general} AS g ON g.uscc = f.uscc"


def write_frame_athena(
    lake: Lake, run_id: str, field_table: str, general: RunResult, *, settings: Settings, runner: Any
) -> dict[str, int]:
    """Have Athena write the field run's sampling frame (a one-file CTAS, copied to the run's
    ``classifications.parquet``) and count its classes; nothing of it passes through here."""
    from functions.classify.engine_athena import class_counts, copy_ctas_output, ctas_table_name, execute

    for value in (general.month, general.province, general.run_id):
        if not re.fullmatch(r"[0-9A-Za-z_.:-]+", value):  # inlined as literals
            raise InvalidInput(f"unexpected characters in {value!r}", field="run_id")
    table = f"{settings.athena_database}.{ctas_table_name(frame_run_id(run_id))}"
    ctas = (
        f"CREATE TABLE {table} WITH (format = 'PARQUET', write_compression = 'ZSTD', "
        f"bucketed_by = ARRAY['uscc'], bucket_count = 1) AS\n"
        + athena_frame_sql(field_table, general.month, general.province, general.run_id)
    )
    query_id = execute(runner, ctas)
    copy_ctas_output(lake, settings, query_id, layout.run_classifications_key(run_id))
    counts, _ = class_counts(lake, runner, table, frame_run_id(run_id))
    return counts


def _drop(runner: Any, tables: list[str]) -> None:
    """Drop the run's temporary tables (a leftover holds no data of its own: not fatal)."""
    from functions.classify.engine_athena import execute

    for table in tables:
        try:
            execute(runner, f"DROP TABLE IF EXISTS {table}")
        except EngineError as exc:
            logger.warning("could not drop the temporary table %s: %s", table, exc.message)


def published_field_run_id(lake: Lake, field: str, month: str, province: str) -> str | None:
    key = layout.field_classification_pointer_key(field, month, province)
    if not lake.exists(key):
        return None
    run_id = lake.read_json(key).get("run_id")
    return str(run_id) if run_id else None


def publish_field(
    lake: Lake,
    manifest: dict[str, Any],
    *,
    settings: Settings | None = None,
    athena: tuple[Any, str] | None = None,
) -> None:
    """Like the general publish (ADR 0033): the sampling copy of the field's frame first (by
    Athena from the frame's table when ``athena`` = (runner, table), ADR 0152), then the field
    result over the published key, then the pointer."""
    from functions.classify.sampling_copy import write_sampling_copy, write_sampling_copy_athena

    field, month, province, run_id = (manifest[k] for k in ("field", "month", "province", "run_id"))
    # the field frame's classes are the combination of the *model's* general class; approved
    # adjustments are applied by the draw, combined with the field class (ADR 0145), never
    # joined here (that would put the adjusted general class in place of the stricter one)
    if athena is not None:
        runner, source = athena
        write_sampling_copy_athena(
            lake, month, province, run_id, manifest["model"], source=source, runner=runner, adjust=False
        )
    else:
        write_sampling_copy(lake, month, province, run_id, manifest["model"], settings=settings, adjust=False)
    lake.copy(field_result_key(run_id), layout.field_classification_key(field, month, province))
    lake.write_json(
        layout.field_classification_pointer_key(field, month, province),
        {
            "run_id": run_id,
            "field": field,
            "general_run_id": manifest["general_run_id"],
            "combination": manifest["combination"],
            "supersedes": manifest.get("supersedes"),
            "model": manifest["model"],
            "model_hash": manifest["model_hash"],
            "cutoff": manifest["cutoff"],
            "published_at": dt.datetime.now(dt.UTC).isoformat(),
            "rows": manifest["rows"],
        },
    )


COMBINED_PAGE = 5_000  # rows per page of the combined view
COMBINED_MAX = 50_000  # the most one statement returns (a page, or the entities asked for)
_CODE_RE = re.compile(r"^[0-9A-Z]{1,18}$")  # a uscc or a cursor on it, safe as a SQL literal


def combined_sql(
    month: str,
    province: str,
    *,
    after: str | None = None,
    limit: int = COMBINED_PAGE,
    uscc: Sequence[str] | None = None,
) -> str:
    """The combined view as one Trino statement over the ``classifications`` and
    ``field_classifications`` tables (the Glue tables in Athena, DuckDB views locally): per
    entity the general class, each field's class (null outside its population) and each field's
    sampling class (the stricter, ADR 0117). It returns one page in uscc order (the entities
    after ``after``, at most ``limit``) or only the entities in ``uscc``; the field side is cut
    to the page's uscc range before the join, so nothing holds the province (ADR 0143)."""
    if not layout.MONTH_RE.match(month) or province not in layout.PROVINCES:
        raise InvalidInput("month is YYYY-MM and province a province code", field="month")
    if not 1 <= limit <= COMBINED_MAX:
        raise InvalidInput(f"limit must be 1..{COMBINED_MAX}", field="limit")
    codes = sorted({c.upper() for c in uscc}) if uscc is not None else None
    if codes is not None and len(codes) > COMBINED_MAX:
        raise InvalidInput(f"at most {COMBINED_MAX} entities at a time", field="uscc")
    for c in [*(codes or []), *([after] if after is not None else [])]:
        if not _CODE_RE.match(c):
            raise InvalidInput(f"not a Unified Social Credit Code: {c[:40]!r}", field="uscc")
    part = f"month = '{month}' AND province = '{province}'"
    where = [part]
    if after is not None:
        where.append(f"uscc > '{after}'")
    if codes is not None:
        where.append("uscc IN (" + (", ".join(f"'{c}'" for c in codes) or "NULL") + ")")
    rows = max(1, len(codes)) if codes is not None else limit  # every entity asked for
    page = (
        f"SELECT uscc, risk_class FROM classifications WHERE {' AND '.join(where)} ORDER BY uscc LIMIT {rows}"
    )
    joins, cols = [], []
    for n, name in enumerate(FIELDS):
        cut = [f"field = '{name}'", *where, "uscc <= (SELECT max(uscc) FROM page)"]
        joins.append(
            f"LEFT JOIN (SELECT uscc, risk_class FROM field_classifications WHERE {' AND '.join(cut)}) "
            f"AS f{n} ON f{n}.uscc = g.uscc"
        )
        cols.append(f"f{n}.risk_class AS {name}_class")
        cols.append(
            f"CASE WHEN f{n}.risk_class IS NULL THEN NULL WHEN g.risk_class > f{n}.risk_class "
            f"THEN g.risk_class ELSE f{n}.risk_class END AS {name}_sampling_class"
        )
    return (
        f"WITH page AS ({page}) SELECT g.uscc AS uscc, g.risk_class AS general_class, {', '.join(cols)} "
        f"FROM page AS g {' '.join(joins)} ORDER BY g.uscc"
    )


def combined(
    lake: Lake,
    month: str,
    province: str,
    *,
    after: str | None = None,
    limit: int = COMBINED_PAGE,
    uscc: Sequence[str] | None = None,
) -> pa.Table:
    """:func:`combined_sql` run on DuckDB over the month's partitions of the lake (the same text
    runs on Athena): one page, or the entities asked for, never the province."""
    from functions.classify.compile import to_duckdb
    from functions.classify.curated_views import FIELD_RESULTS_TABLE, RESULTS_TABLE
    from functions.classify.engine_duckdb import FIELD_PARTITIONS, RESULTS_PARTITIONS, _register, connect

    sql = to_duckdb(combined_sql(month, province, after=after, limit=limit, uscc=uscc))
    if not lake.exists(layout.classification_key(month, province)):
        raise NotFound(f"no published classification for province {province} in {month}", field="month")
    con = connect()
    try:
        general = layout.classification_prefix(month, province)
        _register(con, RESULTS_TABLE, lake, general, "results/classifications", CLASSIFICATION_SCHEMA,
                  RESULTS_PARTITIONS)  # fmt: skip
        for n, name in enumerate(FIELDS):  # only the month's partitions are listed and read
            prefix = layout.field_classification_prefix(name, month, province)
            _register(con, f"_field_{n}", lake, prefix, layout.FIELD_RESULTS, CLASSIFICATION_SCHEMA,
                      FIELD_PARTITIONS)  # fmt: skip
        union = " UNION ALL ".join(f'SELECT * FROM "_field_{n}"' for n in range(len(FIELDS)))
        con.execute(f'CREATE OR REPLACE TEMP VIEW "{FIELD_RESULTS_TABLE}" AS {union}')
        table: pa.Table = con.sql(sql).to_arrow_table()
    finally:
        con.close()
    return table


def _local_file(lake: Lake, key: str, tmp: str, name: str) -> str:
    """A path DuckDB can open for ``key``: the file itself in a local lake, else a download into
    ``tmp`` (the caller's temporary folder, removed with it)."""
    if lake.is_local:
        return str(lake.path(key))
    path = os.path.join(tmp, name)
    lake.download(key, path)
    return path
