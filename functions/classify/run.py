"""One monthly run: compile, execute, keep the run for audit, then publish atomically (ADR 0033).

Order of writes: ``results/runs/<run_id>/classifications.parquet`` and ``manifest.json`` first;
then the Parquet is copied over the published key (an atomic replace) and only then the hidden
``_current.json`` pointer is written. A failure before the copy leaves the previous published
results untouched; earlier runs always stay under ``results/runs/``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, get_args

import pyarrow as pa

from functions import layout
from functions.classify.compile import compile_by_type, datasets_read
from functions.classify.gating import gate
from functions.classify.load import load_system
from functions.classify.system import EntityType, System
from functions.coverage.store import ensure as ensure_coverage
from functions.errors import CreditRiskError, EngineError, InvalidInput, NotFound, StorageError
from functions.lake import Lake, LakeFile
from functions.months import month_end
from functions.obs.context import bind, log_context, scoped
from functions.progress import ProgressFn, no_progress
from functions.settings import Settings
from schemas.datasets import DATASETS
from schemas.ingest import IngestReport

logger = logging.getLogger(__name__)
CODE_VERSION = "creditrisk-classify/1"


@dataclass(frozen=True)
class RunResult:
    run_id: str
    month: str
    province: str
    manifest: dict[str, Any]
    counts: dict[str, int] = field(default_factory=dict)
    # per professional field: its run id, model, class counts and sampling-class counts
    fields: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    def summary_entry(self) -> dict[str, Any]:
        """The province's entry in a run summary (``classify_all``, the CLI)."""
        entry: dict[str, Any] = {"status": "published", "run_id": self.run_id, "counts": self.counts}
        if self.fields:
            entry["fields"] = self.fields
        return {**entry, "supersedes": self.manifest.get("supersedes")}


Engine = Callable[..., pa.Table]


def provinces_with_data(lake: Lake) -> list[str]:
    """Provinces with any curated dataset (sorted)."""
    found: set[str] = set()
    for name in DATASETS:
        for d in lake.list_dirs(layout.curated_prefix(name)):
            if d.startswith("province="):
                found.add(d[len("province=") :])
    return sorted(p for p in found if layout.PROVINCE_RE.match(p))


def _check_args(month: str, province: str, cutoff: dt.datetime | None) -> dt.datetime:
    if not layout.MONTH_RE.match(month):
        raise InvalidInput(f"month must be YYYY-MM, got {month!r}", field="month")
    if province not in layout.PROVINCES:
        raise InvalidInput(f"province must be a GB/T 2260 province code, got {province!r}", field="province")
    if cutoff is None:
        return dt.datetime.now(dt.UTC)
    if cutoff.tzinfo is None:
        raise InvalidInput("cutoff must carry a time zone (e.g. 2026-11-01T00:00:00+00:00)", field="cutoff")
    return cutoff.astimezone(dt.UTC)


def new_run_id(month: str, province: str, now: dt.datetime) -> str:
    return f"{month}-{province}-{now.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:8]}"


def input_files(lake: Lake, province: str, datasets: tuple[str, ...]) -> list[dict[str, Any]]:
    """Every curated file the run may read, with its sha256, row count and, from the Parquet
    footer statistics, the ingest that wrote it (``ingest_id``/``ingested_at``, or None when
    the file does not hold exactly one of each): the audit trail and the dedup plan.

    The sha256 is the one ingestion recorded when it wrote the file (``digest_source`` =
    ``ingest_report``), checked against the file's size; only a file without that record is read
    and hashed here (``computed``). Reading every file again would pull the whole province
    through the function that runs the month, which on Athena never touches the data (ADR 0039)."""
    import pyarrow.parquet as pq

    out = []
    for name in datasets:
        for f in lake.list_files(layout.curated_prefix(name, province)):
            sha256 = _recorded_sha256(lake, name, province, f)
            source = "ingest_report"
            if sha256 is None:
                sha256, source = _file_sha256(lake, f.key), "computed"
            try:
                with lake.open_input_file(f.key) as stream:
                    meta = pq.ParquetFile(stream).metadata
            except (pa.ArrowInvalid, OSError) as exc:
                raise StorageError(
                    f"curated file {lake.display(f.key)} cannot be read as Parquet: {exc}", key=f.key
                ) from exc
            ingest_id = _single_value(meta, "_ingest_id")
            ingested_at = _single_value(meta, "_ingested_at")
            if ingest_id is None and _lacks_statistics(meta, "_ingest_id"):
                with lake.open_input_file(f.key) as stream:
                    ingest_id = _only_value(
                        pq.ParquetFile(stream, read_dictionary=["_ingest_id"]), "_ingest_id"
                    )
            out.append(
                {
                    "dataset": name,
                    "key": f.key,
                    "bytes": f.size,
                    "sha256": sha256,
                    "digest_source": source,
                    "rows": meta.num_rows,
                    "ingest_id": ingest_id if isinstance(ingest_id, str) else None,
                    "ingested_at": (
                        ingested_at.astimezone(dt.UTC).isoformat()
                        if isinstance(ingested_at, dt.datetime) and ingested_at.tzinfo
                        else None
                    ),
                }
            )
    return out


def _recorded_sha256(lake: Lake, dataset: str, province: str, f: LakeFile) -> str | None:
    """The sha256 ingestion recorded for curated file ``f`` in its ingest report, or None when
    there is none (a file written before reports carried it, or not by ingestion). A file whose
    size differs from the recorded one was changed after ingestion: a ``StorageError``, never a
    silently different input."""
    ingest_id = layout.curated_ingest_id(f.key)
    if ingest_id is None:
        return None
    report_key = layout.ingest_report_key(province, dataset, ingest_id)
    try:
        report = IngestReport.model_validate(lake.read_json(report_key))
    except FileNotFoundError:
        return None
    except ValueError as exc:  # not JSON, or not an ingest report (pydantic's errors are ValueErrors)
        raise StorageError(
            f"ingest report {lake.display(report_key)} cannot be read: {exc}", key=report_key
        ) from exc
    if report.curated_sha256 is None or report.curated_key != f.key:
        return None
    if report.curated_bytes != f.size:
        raise StorageError(
            f"curated file {lake.display(f.key)} has {f.size} bytes but ingestion wrote "
            f"{report.curated_bytes}: it was changed after ingestion",
            key=f.key,
        )
    return report.curated_sha256


def _file_sha256(lake: Lake, key: str) -> str:
    digest = hashlib.sha256()
    with lake.open_input_file(key) as stream:
        while chunk := stream.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _column_stats(meta: Any, column: str) -> list[Any] | None:
    """``column``'s statistics in each row group (None for a group without), or None when the
    file has no such column."""
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    if column not in names:
        return None
    j = names.index(column)
    return [meta.row_group(i).column(j).statistics for i in range(meta.num_row_groups)]


def _lacks_statistics(meta: Any, column: str) -> bool:
    """True when some row group has no min/max for ``column`` (curated files written before
    ``_ingest_id`` statistics were kept), so the footer cannot tell the file's ingest."""
    stats = _column_stats(meta, column)
    return stats is not None and any(s is None or not s.has_min_max for s in stats)


def _only_value(parquet: Any, column: str) -> Any:
    """The one value ``column`` holds in every row (no nulls), read from the column itself
    (open ``parquet`` with ``read_dictionary=[column]``: cheap for a constant column), else None."""
    values = parquet.read(columns=[column]).column(column)
    if values.null_count:
        return None
    distinct = values.unique()
    if isinstance(distinct, pa.DictionaryArray):
        distinct = distinct.dictionary_decode()
    return distinct[0].as_py() if len(distinct) == 1 else None


def _single_value(meta: Any, column: str) -> Any:
    """The one value ``column`` holds in every row group (min = max, no nulls), else None."""
    groups = _column_stats(meta, column)
    if groups is None or meta.num_rows == 0:
        return None
    values = set()
    for stats in groups:
        if stats is None or not stats.has_min_max or stats.null_count or stats.min != stats.max:
            return None
        values.add(stats.min)
    return values.pop() if len(values) == 1 else None


def ingest_plan(
    inputs: list[dict[str, Any]], datasets: tuple[str, ...], cutoff: dt.datetime
) -> dict[str, tuple[str, ...]]:
    """Per dataset, its ingest ids at or before ``cutoff``, oldest first (``_ingested_at``, then
    ``_ingest_id``: the order the as-of view keeps the latest of). A dataset with any file that
    does not name exactly one ingest, or with two files of one ingest, is left out: it keeps the
    general window (ADR 0036)."""
    plan: dict[str, tuple[str, ...]] = {}
    for name in datasets:
        files = [f for f in inputs if f["dataset"] == name]
        if any(f["ingest_id"] is None or f["ingested_at"] is None for f in files):
            continue
        ids = [f["ingest_id"] for f in files]
        if len(set(ids)) != len(ids):
            continue
        eligible = [
            (dt.datetime.fromisoformat(f["ingested_at"]), f["ingest_id"])
            for f in files
            if f["rows"] > 0 and dt.datetime.fromisoformat(f["ingested_at"]) <= cutoff
        ]
        plan[name] = tuple(i for _, i in sorted(eligible))
    return plan


ENTITY_TYPES: tuple[str, ...] = get_args(EntityType)


def assign_systems(main: System, by_type: Mapping[str, str]) -> list[tuple[System, tuple[str, ...]]]:
    """Which system classifies which entity types: ``by_type`` overrides, ``main`` the rest
    (within its own ``entity_types``); the main system comes first. An unknown type, or a system
    that does not cover a type given to it, is a clear ``InvalidInput``."""
    unknown = sorted(set(by_type) - set(ENTITY_TYPES))
    if unknown:
        raise InvalidInput(
            f"unknown entity type(s) {', '.join(unknown)} in the system mapping; "
            f"known: {', '.join(ENTITY_TYPES)}",
            field="systems",
        )
    loaded: dict[str, System] = {main.id: main}
    groups: dict[str, list[str]] = {main.id: []}
    for etype in ENTITY_TYPES:
        sid = by_type.get(etype, main.id)
        if sid not in loaded:
            loaded[sid] = load_system(sid)
        if etype not in loaded[sid].entity_types:
            if etype not in by_type:
                continue  # the main system does not classify this type, as before
            raise InvalidInput(
                f"system {sid} does not classify entity type {etype} (it covers "
                f"{', '.join(loaded[sid].entity_types)})",
                field="systems",
            )
        groups.setdefault(sid, []).append(etype)
    out = [(loaded[sid], tuple(types)) for sid, types in groups.items() if types]
    if not out:
        out = [(main, tuple(main.entity_types))]
    return out


@scoped
def classify_month(
    lake: Lake,
    *,
    month: str,
    province: str,
    system_id: str | None = None,
    engine: str = "duckdb",
    cutoff: dt.datetime | None = None,
    settings: Settings,
    boto3_session: Any = None,
    progress: ProgressFn = no_progress,
    athena_runner: Any = None,
    systems: Mapping[str, str] | None = None,
    correction: Mapping[str, str] | None = None,
    fields: Sequence[str] = (),
) -> RunResult:
    """Classify every entity of ``province`` for ``month`` and publish the result.

    ``correction``: this run re-classifies the month after an upheld objection (its id and
    entity); the manifest and the pointer keep it, beside ``supersedes`` (docs/adr/0112).

    ``systems``: entity type -> system id, for types classified with another system than the
    run's (over ``settings.class_systems``); all types land in the one published partition and
    each row's ``model`` names its system (ADR 0037).

    ``fields``: professional fields classified after the general run is published, each over its
    population, published beside it (docs/adr/0117); their summary is ``RunResult.fields``."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    cut = _check_args(month, province, cutoff)
    if engine not in ("duckdb", "athena"):
        raise InvalidInput(f"engine must be duckdb or athena, got {engine!r}", field="engine")
    if fields:
        from functions.classify.fields import check_fields

        fields = check_fields(fields)
    system = load_system(system_id or settings.default_system)
    assignments = assign_systems(system, {**settings.class_systems, **(systems or {})})
    if not lake.list_files(layout.curated_prefix("entities", province)):
        raise NotFound(
            f"no curated entities for province {province}: nothing to classify for {month}",
            field="province",
            province=province,
        )
    started = dt.datetime.now(dt.UTC)
    run_id = new_run_id(month, province, started)
    bind(run_id=run_id, month=month, province=province)  # on every log line (docs/adr/0076)
    datasets = tuple(sorted({d for s, _ in assignments for d in datasets_read(s)}))
    progress("classify: inputs", 0, None)
    inputs = input_files(lake, province, datasets)
    # Indicators whose input the province has not delivered are held back (docs/adr/0132);
    # coverage is recorded first for curated files without (docs/adr/0133).
    gating = gate([s for s, _ in assignments], ensure_coverage(lake, province), month_end(month))
    timings["inputs_s"] = time.perf_counter() - t0
    t = time.perf_counter()
    compiled = compile_by_type(
        assignments,
        month=month,
        province=province,
        cutoff=cut,
        run_id=run_id,
        ingests=ingest_plan(inputs, datasets, cut),
        gated=gating.gated,
    )
    timings["compile_s"] = time.perf_counter() - t
    progress("classify: run", 0, 1)
    t = time.perf_counter()
    run_key = layout.run_classifications_key(run_id)
    engine_plan: dict[str, Any] = {}
    athena: tuple[Any, str] | None = None  # (runner, the run's table) on Athena
    if engine == "duckdb":
        from functions.classify.engine_duckdb import run_duckdb_to_lake

        done = run_duckdb_to_lake(lake, compiled, run_key, settings=settings)
        counts, rows = done.counts, done.rows
        engine_plan["uscc_ranges"] = [list(r) for r in done.ranges]
        # the statement ran without its final decode of the reasons, done in Arrow (ADR 0069)
        engine_plan["reasons"] = "keys_decoded_in_arrow"
    else:
        from functions.classify.engine_athena import ctas_table_name, run_athena, runner_for

        runner = runner_for(settings, boto3_session, athena_runner)
        # the run's table stays until publish: Athena writes the sampling copy from it (ADR 0147)
        counts, rows = run_athena(lake, compiled, settings=settings, runner=runner, keep_table=True)
        athena = (runner, f"{settings.athena_database}.{ctas_table_name(run_id)}")
    try:
        timings["engine_s"] = time.perf_counter() - t
        progress("classify: run", 1, 1)
        manifest: dict[str, Any] = {
            "run_id": run_id,
            # the run this one replaces as the published one (a re-run), recorded for audit
            "supersedes": published_run_id(lake, month, province),
            "correction": dict(correction) if correction else None,
            "month": month,
            "province": province,
            "period_end": month_end(month).isoformat(),
            "cutoff": cut.isoformat(),
            "model": compiled.system.model_ref,
            "model_hash": compiled.system.content_hash(),
            "models": dict(compiled.models),
            "model_hashes": {s.model_ref: s.content_hash() for s, _ in assignments},
            "engine": engine,
            "engine_plan": engine_plan,
            "code_version": CODE_VERSION,
            "started_at": started.isoformat(),
            "inputs": inputs,
            "rows": rows,
            "counts": counts,
            "statements": compiled.statements,
            "timings": timings,
            # inputs the indicators read that the province has not delivered, and the indicators
            # held back for them (docs/adr/0104, 0132)
            "inputs_incomplete": gating.incomplete,
            "indicators_gated": gating.indicators,
        }
        timings["total_s"] = time.perf_counter() - t0
        lake.write_json(f"{layout.run_prefix(run_id)}/manifest.json", manifest)
        publish(lake, manifest, settings=settings, athena=athena)
    finally:
        if athena is not None:  # the run's temporary table, kept for the sampling copy
            from functions.classify.engine_athena import drop_statement, execute

            try:
                execute(athena[0], drop_statement(settings.athena_database, run_id))
            except EngineError as exc:  # a leftover table holds no data of its own: not fatal
                logger.warning("could not drop the temporary table of run %s: %s", run_id, exc.message)
    logger.info("classified %s %s with %s: %s rows, %s", province, month, system.model_ref, rows, counts)
    result = RunResult(run_id, month, province, manifest, counts)
    if fields:
        from functions.classify.fields import classify_fields

        progress("classify: fields", 0, len(fields))
        by_field = classify_fields(
            lake,
            result,
            fields=fields,
            settings=settings,
            engine=engine,
            cutoff=cut,
            boto3_session=boto3_session,
            athena_runner=athena_runner,
        )
        progress("classify: fields", len(fields), len(fields))
        result = RunResult(run_id, month, province, manifest, counts, by_field)
    return result


def published_run_id(lake: Lake, month: str, province: str) -> str | None:
    """The run currently published for ``month``/``province`` (None before the first)."""
    key = layout.classification_pointer_key(month, province)
    if not lake.exists(key):
        return None
    run_id = lake.read_json(key).get("run_id")
    return str(run_id) if run_id else None


def published_manifest(lake: Lake, month: str, province: str) -> dict[str, Any] | None:
    """The manifest of the run published for ``month``/``province`` (None before the first)."""
    run_id = published_run_id(lake, month, province)
    key = f"{layout.run_prefix(run_id)}/manifest.json" if run_id else None
    if key is None or not lake.exists(key):
        return None
    manifest: dict[str, Any] = lake.read_json(key)
    return manifest


def publish(
    lake: Lake,
    manifest: dict[str, Any],
    *,
    settings: Settings | None = None,
    athena: tuple[Any, str] | None = None,
) -> None:
    """Write the run's sampling copy (ADR 0100; by Athena from the run's table when ``athena``
    = (runner, table) is given, ADR 0147), copy the run's Parquet over the published key
    (atomic), then move the pointer: readers find the copy through the pointer only."""
    from functions.classify.sampling_copy import write_sampling_copy, write_sampling_copy_athena
    from functions.delivery.changes import write_changes, write_changes_athena

    month, province, run_id = manifest["month"], manifest["province"], manifest["run_id"]
    if athena is not None:  # nothing of the province passes through the function (ADR 0152)
        runner, source = athena
        write_sampling_copy_athena(
            lake, month, province, run_id, manifest["model"], source=source, runner=runner
        )
        write_changes_athena(lake, month, province, run_id, source=source, runner=runner)
    else:
        write_sampling_copy(lake, month, province, run_id, manifest["model"], settings=settings)
        write_changes(lake, month, province, run_id)  # the change feed's rows (ADR 0121)
    lake.copy(layout.run_classifications_key(run_id), layout.classification_key(month, province))
    lake.write_json(
        layout.classification_pointer_key(month, province),
        {
            "run_id": run_id,
            "supersedes": manifest.get("supersedes"),
            "correction": manifest.get("correction"),
            "model": manifest["model"],
            "model_hash": manifest["model_hash"],
            "cutoff": manifest["cutoff"],
            "published_at": dt.datetime.now(dt.UTC).isoformat(),
            "rows": manifest["rows"],
        },
    )


def previous_month_in(now: dt.datetime, tz: str) -> str:
    """The month before ``now``'s month in ``tz`` (the scheduled run fires at 02:00 China time on
    the 1st, i.e. 18:00 UTC on the last day of the previous month, see ADR 0035)."""
    from zoneinfo import ZoneInfo

    local = now.astimezone(ZoneInfo(tz))
    first = local.date().replace(day=1) - dt.timedelta(days=1)
    return f"{first.year:04d}-{first.month:02d}"


def classify_all(
    lake: Lake,
    *,
    month: str,
    settings: Settings,
    engine: str | None = None,
    system_id: str | None = None,
    cutoff: dt.datetime | None = None,
    boto3_session: Any = None,
    progress: ProgressFn = no_progress,
    systems: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Classify ``month`` for every province with curated data; one province's failure does not
    stop the others, and a province without entities is reported as such."""
    summary: dict[str, Any] = {"month": month, "provinces": {}}
    provinces = provinces_with_data(lake)
    if not provinces:
        summary["message"] = "no province has curated data: nothing to classify"
        logger.warning("no province has curated data: nothing to classify for %s", month)
    for province in provinces:
        with log_context(province=province, month=month):
            t = time.perf_counter()
            try:
                result = classify_month(
                    lake,
                    month=month,
                    province=province,
                    system_id=system_id,
                    engine=engine or settings.engine,
                    cutoff=cutoff,
                    settings=settings,
                    boto3_session=boto3_session,
                    progress=progress,
                    systems=systems,
                    fields=settings.field_systems,
                )
                summary["provinces"][province] = result.summary_entry()
            except NotFound as exc:
                logger.warning("province %s: %s", province, exc.message)
                summary["provinces"][province] = {"status": "no_data", "message": exc.message}
            except CreditRiskError as exc:  # a known failure: its message says what and where
                logger.error("province %s failed: %s", province, exc.message)
                summary["provinces"][province] = {"status": "failed", "message": exc.message}
            except Exception as exc:  # one province must not stop the others; the error is reported
                logger.error("province %s failed: %s", province, type(exc).__name__, exc_info=exc)
                summary["provinces"][province] = {"status": "failed", "message": str(exc)}
            summary["provinces"][province]["seconds"] = round(time.perf_counter() - t, 3)
    return summary
