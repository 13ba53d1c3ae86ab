"""The monthly export of a province's full result for its inspection platform (名录库对接,
issue 14, docs/adr/0122).

Written on the engine (DuckDB with its memory limit and spill folder, as the sampling copy is:
the published Parquet is read from disk, a 20M-row province never sits in this process) to
``delivery/<PP>/month=<M>/``: ``classifications.parquet`` and ``classifications.csv.gz`` (UTF-8,
header) with the columns a platform needs, then ``manifest.json`` (rows, files, SHA-256) last.
Each professional field's class and sampling class (the bulk read's ``fields``, ADR 0156) are
joined from the field's published run for the month, in the engine; every field has its two
columns, null where it was not published (the manifest's ``field_runs`` says which were), so a
loader sees one layout (docs/adr/0160).
The announcement (an event carrying the manifest) is made by :mod:`functions.delivery.announce`.
In AWS only the province's platform role may read its prefix (infra/delivery.py).

On Athena (ADR 0152) nothing of the province passes through the function's disk or memory:
Athena ``UNLOAD``s the rows from the published ``classifications`` table as Parquet (zstd) and
as gzip text lines built as CSV in SQL (UNLOAD writes TEXTFILE with no header and no quoting,
in several files); the files are copied server-side under ``classifications/`` and
``classifications.csv/`` (a header part first), each hashed as a stream from the scratch.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import logging
import os
import re
import tempfile
from typing import TYPE_CHECKING, Any

from functions import layout
from functions.delivery.field_classes import published_pointers, sampling_class_sql
from functions.errors import EngineError, NotFound, StorageError
from functions.objections.adjust import approved_adjustments
from schemas.delivery import EXPORT_COLUMNS, ExportFile, ExportManifest
from schemas.fields import FIELD_NAMES

if TYPE_CHECKING:
    from functions.lake import Lake
    from functions.settings import Settings

logger = logging.getLogger(__name__)
CLASS = "coalesce(a.adjusted_class, c.risk_class)"  # the class to use, as the bulk read's ``class``


def fields_sql(relations: dict[str, str]) -> tuple[str, str]:
    """The select list (``, …``) and the joins of every field's two columns: from
    ``relations[field]`` (a relation of ``uscc, risk_class``: the field's published run) where the
    field is published, else typed nulls. The sampling class combines the class to use, as the
    bulk read's does (ADR 0156). Same text on DuckDB and Trino."""
    cols, joins = [], []
    for n, field in enumerate(FIELD_NAMES):
        relation = relations.get(field)
        if relation is None:
            cols.append(
                f"CAST(NULL AS VARCHAR) AS {field}_class, CAST(NULL AS VARCHAR) AS {field}_sampling_class"
            )
            continue
        joins.append(f" LEFT JOIN {relation} AS f{n} ON f{n}.uscc = c.uscc")
        cols.append(f"f{n}.risk_class AS {field}_class, "
                    f"{sampling_class_sql(CLASS, f'f{n}.risk_class')} AS {field}_sampling_class")  # fmt: skip
    return "".join(f", {c}" for c in cols), "".join(joins)


def export_select(general: str, adj: str, relations: dict[str, str]) -> str:
    """The export's rows, unordered: the general rows, the approved adjustments and the fields."""
    cols, joins = fields_sql(relations)
    return (
        f"SELECT c.uscc, c.name, {CLASS} AS class, "
        "c.risk_class AS model_class, a.adjusted_class IS NOT NULL AS adjusted, a.adjustment_id, "
        "c.previous_class, coalesce(c.previous_class IS NULL OR c.previous_class <> c.risk_class, true) "
        f"AS changed{cols}, c.run_id FROM {general} c LEFT JOIN {adj} ON a.uscc = c.uscc{joins}"
    )


def export_sql(source: str, target: str, fields: dict[str, str]) -> str:
    """The statement writing the Parquet export (adjustments joined from the ``adj`` table;
    ``fields``: each published field's result file)."""
    relations = {f: f"(SELECT uscc, risk_class FROM read_parquet('{_quoted(p)}'))" for f, p in fields.items()}
    rows = export_select(f"read_parquet('{_quoted(source)}')", "adj a", relations)
    columns = ", ".join(EXPORT_COLUMNS)
    return (
        f"COPY (SELECT {columns} FROM ({rows}) ORDER BY uscc) TO '{_quoted(target)}' "
        "(FORMAT parquet, COMPRESSION zstd)"
    )


def _quoted(path: str) -> str:
    return path.replace("'", "''")


def export_month(
    lake: Lake,
    month: str,
    province: str,
    *,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
    engine: str | None = None,
    athena_runner: Any = None,
    boto3_session: Any = None,
) -> ExportManifest:
    """Write the province's export of ``month`` (the published run, approved adjustments applied)
    on ``engine`` (default: the settings'; Athena: :func:`export_month_athena`)."""
    if (engine or (settings.engine if settings else "duckdb")) == "athena":
        if settings is None:
            raise EngineError("the Athena export needs the settings (database, workgroup)")
        from functions.classify.engine_athena import runner_for

        runner = runner_for(settings, boto3_session, athena_runner)
        return export_month_athena(lake, month, province, settings=settings, runner=runner, now=now)
    import duckdb  # the local path only: the AWS functions do not ship DuckDB

    from functions.classify.engine_duckdb import connect_for

    key = layout.classification_key(month, province)
    if lake.info(key) is None:
        raise NotFound(f"no published classification for province {province} in {month}", field="month")
    adjusted = approved_adjustments(lake, month, province)
    field_runs = {f: str(p["run_id"]) for f, p in published_pointers(lake, month, province).items()}
    with tempfile.TemporaryDirectory(prefix="creditrisk-delivery-") as tmp:
        if lake.is_local:
            source = lake.path(key)
        else:
            source = os.path.join(tmp, "published.parquet")
            lake.download(key, source)
        fields = {f: _field_file(lake, f, run, tmp) for f, run in field_runs.items()}
        parquet, csv = (
            os.path.join(tmp, "classifications.parquet"),
            os.path.join(tmp, "classifications.csv.gz"),
        )
        con = connect_for(settings, os.path.join(tmp, "spill"))
        try:
            con.execute("CREATE TEMP TABLE adj (uscc VARCHAR, adjusted_class VARCHAR, adjustment_id VARCHAR)")
            if adjusted:
                values = [(c, a["adjusted_class"], a["adjustment_id"]) for c, a in sorted(adjusted.items())]
                con.executemany("INSERT INTO adj VALUES (?, ?, ?)", values)
            con.execute(export_sql(source, parquet, fields))
            con.execute(f"COPY (SELECT * FROM read_parquet('{_quoted(parquet)}')) TO '{_quoted(csv)}' "
                        "(FORMAT csv, HEADER, COMPRESSION gzip)")  # fmt: skip
            rows, changed, n_adj = con.execute(
                f"SELECT count(*), count(*) FILTER (changed), count(*) FILTER (adjusted) "
                f"FROM read_parquet('{_quoted(parquet)}')"
            ).fetchone() or (0, 0, 0)
            run = con.execute(f"SELECT min(run_id) FROM read_parquet('{_quoted(source)}')").fetchone()
        except duckdb.Error as exc:
            raise EngineError(f"DuckDB failed to write the {province} export of {month}: {exc}") from exc
        finally:
            con.close()
        files = []
        for path, fmt in ((parquet, "parquet"), (csv, "csv.gz")):
            out = layout.delivery_key(province, month, os.path.basename(path))
            lake.write_file(out, path)
            size = os.path.getsize(path)
            files.append(
                ExportFile.model_validate({"key": out, "format": fmt, "bytes": size, "sha256": _sha256(path)})
            )
    manifest = ExportManifest(
        month=month,
        province=province,
        run_id=str(run[0]) if run and run[0] is not None else "",
        rows=int(rows),
        changed=int(changed),
        adjusted=int(n_adj),
        columns=list(EXPORT_COLUMNS),
        field_runs=field_runs,
        files=files,
        written_at=(now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat(timespec="seconds"),
    )
    lake.write_json(layout.delivery_key(province, month, "manifest.json"), manifest.model_dump(mode="json"))
    logger.info("export %s/%s: %s rows (%s changed, %s adjusted)", province, month, rows, changed, n_adj)
    return manifest


def _field_file(lake: Lake, field: str, run_id: str, tmp: str) -> str:
    """A path DuckDB can open for the field run's result (immutable, named by the pointer)."""
    key = layout.field_result_key(run_id)
    if lake.info(key) is None:
        raise StorageError(f"field {field}'s published run result {lake.display(key)} is missing")
    if lake.is_local:
        return str(lake.path(key))
    path = os.path.join(tmp, f"field-{field}.parquet")
    lake.download(key, path)
    return path


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# -- on Athena (ADR 0152) -------------------------------------------------------------------------
_CODE = re.compile(r"^[0-9A-Za-z]{1,12}$|^\d{4}-\d{2}$")  # province, month: safe as SQL literals
_RUN = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,127}$")  # a field run id (pointer), inlined likewise


def _q(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def athena_export_query(
    month: str, province: str, adjusted: dict[str, dict[str, Any]], field_runs: dict[str, str] | None = None
) -> str:
    """The export's rows (Trino) from the published partition, the approved adjustments inlined
    (a handful a month) and each published field's partition pinned by its run id (the pointer's);
    unordered (the UNLOADs order them, inside each file Athena writes)."""
    from functions.classify.curated_views import RESULTS_TABLE

    if adjusted:
        values = ", ".join(
            f"({_q(u)}, {_q(str(a['adjusted_class']))}, {_q(str(a['adjustment_id']))})"
            for u, a in sorted(adjusted.items())
        )
        adj = f"(VALUES {values}) AS a (uscc, adjusted_class, adjustment_id)"
    else:
        adj = "(SELECT CAST(NULL AS VARCHAR) AS uscc, CAST(NULL AS VARCHAR) AS adjusted_class, " \
              "CAST(NULL AS VARCHAR) AS adjustment_id WHERE FALSE) AS a"  # fmt: skip
    relations = {
        f: f"(SELECT uscc, risk_class {_pinned(f, month, province, run)})"
        for f, run in (field_runs or {}).items()
    }
    rows = export_select(RESULTS_TABLE, adj, relations)
    return f"{rows} WHERE c.month = {_q(month)} AND c.province = {_q(province)}"


def _pinned(field: str, month: str, province: str, run_id: str) -> str:
    """``FROM`` the field's published partition, only the rows of ``run_id`` (its pointer's)."""
    from functions.classify.curated_views import FIELD_RESULTS_TABLE

    return (
        f"FROM {FIELD_RESULTS_TABLE} WHERE field = {_q(field)} AND month = {_q(month)} "
        f"AND province = {_q(province)} AND run_id = {_q(run_id)}"
    )


def _csv_field(column: str, kind: str) -> str:
    """One CSV field in SQL, as DuckDB's CSV writer spells it: empty for null, booleans
    ``true``/``false``, text quoted when it holds a comma, quote or line break."""
    if kind == "bool":
        return f"coalesce(CASE WHEN {column} THEN 'true' ELSE 'false' END, '')"
    quoted = f"'\"' || replace({column}, '\"', '\"\"') || '\"'"
    needs = f"strpos({column}, ',') > 0 OR strpos({column}, '\"') > 0 OR strpos({column}, chr(10)) > 0 " \
            f"OR strpos({column}, chr(13)) > 0"  # fmt: skip
    return f"coalesce(CASE WHEN {needs} THEN {quoted} ELSE {column} END, '')"


CSV_KINDS = {"adjusted": "bool", "changed": "bool"}


def athena_csv_query(base: str) -> str:
    """Each export row as one CSV line (``line``): TEXTFILE has no quoting of its own."""
    fields = " || ',' || ".join(_csv_field(f"r.{c}", CSV_KINDS.get(c, "text")) for c in EXPORT_COLUMNS)
    return f"SELECT {fields} AS line FROM ({base}) r ORDER BY r.uscc"


def export_month_athena(
    lake: Lake,
    month: str,
    province: str,
    *,
    settings: Settings,
    runner: Any,
    now: dt.datetime | None = None,
) -> ExportManifest:
    """The export written by Athena: Parquet and CSV.gz parts copied from the scratch, each
    hashed as it streams from there, the manifest listing every part; nothing else is read."""
    from functions.classify.engine_athena import clear_scratch, execute, unload_statement

    if not (_CODE.match(province) and _CODE.match(month)):
        raise EngineError(f"unexpected province or month {province!r}/{month!r}")
    key = layout.classification_key(month, province)
    if lake.info(key) is None:
        raise NotFound(f"no published classification for province {province} in {month}", field="month")
    adjusted = approved_adjustments(lake, month, province)
    pointers = published_pointers(lake, month, province)
    field_runs = {f: str(p["run_id"]) for f, p in pointers.items()}
    if bad := [r for r in field_runs.values() if not _RUN.match(r)]:
        raise EngineError(f"unexpected field run id {bad[0]!r}")
    base = athena_export_query(month, province, adjusted, field_runs)
    scratch = layout.athena_unload_prefix(f"export-{province}-{month}")
    if lake.list_files(scratch, include_hidden=True):  # an UNLOAD needs an empty destination
        raise EngineError(f"the export scratch {lake.display(scratch)} is not empty")
    columns = ", ".join(EXPORT_COLUMNS)
    files: list[ExportFile] = []
    try:
        # beside the totals, the rows of each pinned field run its partition holds (one-row
        # aggregates cross-joined): a partition re-published under the export shows here
        counts = "".join(f", k{n}.rows_{f}" for n, f in enumerate(field_runs))
        pinned = "".join(
            f" CROSS JOIN (SELECT count(*) AS rows_{f} {_pinned(f, month, province, r)}) k{n}"
            for n, (f, r) in enumerate(field_runs.items())
        )
        totals_sql = (
            "SELECT count(*) AS n, count_if(changed) AS changed, count_if(adjusted) AS adjusted, "
            f"min(run_id) AS run_id FROM ({base})"
        )
        summary = f"SELECT s.n, s.changed, s.adjusted, s.run_id{counts} FROM ({totals_sql}) s{pinned}"
        execute(runner, unload_statement(summary, lake.display(f"{scratch}/summary") + "/"))
        found = [lake.read_parquet(f.key) for f in lake.list_files(f"{scratch}/summary") if f.size > 0]
        if len(found) != 1 or found[0].num_rows != 1:
            raise EngineError(f"Athena wrote no summary of the {province} export of {month}")
        totals = found[0].to_pylist()[0]
        for field, pointer in pointers.items():
            held_rows = totals[f"rows_{field}"]
            if isinstance(pointer.get("rows"), int) and held_rows != pointer["rows"]:
                raise EngineError(
                    f"field {field}'s published partition holds {held_rows} rows of run {field_runs[field]}, "
                    f"its pointer says {pointer['rows']} (re-published during the export?); export again"
                )
        parquet = f"SELECT {columns} FROM ({base}) ORDER BY uscc"
        execute(runner, unload_statement(parquet, lake.display(f"{scratch}/parquet") + "/"))
        text = (
            f"UNLOAD (\n{athena_csv_query(base)}\n) TO '{lake.display(f'{scratch}/csv')}/' "
            "WITH (format = 'TEXTFILE', compression = 'GZIP')"
        )
        execute(runner, text)
        out = layout.delivery_prefix(province, month)
        header = gzip.compress((",".join(EXPORT_COLUMNS) + "\n").encode(), mtime=0)
        head_key = f"{out}/classifications.csv/00000-header.csv.gz"
        lake.write_bytes(head_key, header)
        files.append(ExportFile(key=head_key, format="csv.gz", bytes=len(header),
                                sha256=hashlib.sha256(header).hexdigest()))  # fmt: skip
        for part, folder, name, fmt in (
            ("parquet", "classifications", "parquet", "parquet"),
            ("csv", "classifications.csv", "csv.gz", "csv.gz"),
        ):
            written = sorted(
                (f for f in lake.list_files(f"{scratch}/{part}") if f.size > 0), key=lambda f: f.key
            )
            for i, f in enumerate(written, 1):
                dest = f"{out}/{folder}/{i:05d}.{name}"
                digest = _stream_sha256(lake, f.key)
                lake.copy(f.key, dest)
                files.append(
                    ExportFile.model_validate({"key": dest, "format": fmt, "bytes": f.size, "sha256": digest})
                )
    finally:
        clear_scratch(lake, scratch)
    manifest = ExportManifest(
        month=month,
        province=province,
        run_id=str(totals["run_id"] or ""),
        rows=int(totals["n"]),
        changed=int(totals["changed"]),
        adjusted=int(totals["adjusted"]),
        columns=list(EXPORT_COLUMNS),
        field_runs=field_runs,
        files=files,
        written_at=(now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat(timespec="seconds"),
    )
    lake.write_json(layout.delivery_key(province, month, "manifest.json"), manifest.model_dump(mode="json"))
    logger.info("export %s/%s on Athena: %s rows in %s files", province, month, manifest.rows, len(files))
    return manifest


def _stream_sha256(lake: Lake, key: str) -> str:
    """SHA-256 of an object read as a stream, 1 MB at a time (never held whole)."""
    h = hashlib.sha256()
    with lake.open_input_stream(key) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
