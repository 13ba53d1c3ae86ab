"""Tolerance lists (包容审慎) and re-inspection limits: the draw's *supervision set* (ADR 0123, 0124).

One Athena-dialect statement on the query engine (DuckDB locally, Athena in AWS) joins the run's
classification with the as-of views of ``supervision_lists``, ``entities``, ``annual_reports`` and
``inspections`` and answers only the entities that need more than their class stratum: listed or
inspected this year. Each comes with its cell (class, region, section, entity type) and its rank
inside the cell, so the draw excludes it from the sampling copy's strata without reading the copy
(the province never enters the function's memory; the answer is the lists plus the year's
inspections). Dispositions (lists' exits, precedence, re-inspection) are then decided here from
``schemas/supervision.yaml``, and the set is stored once under its SHA-256 (the task fixes it at
registration; ``plan verify`` reads it back and checks the digest).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from functions import layout
from functions.errors import StorageError, WriteConflict
from functions.months import month_end
from schemas.api import SUPERVISION

if TYPE_CHECKING:
    from functions.lake import Lake
    from functions.sampling.cells import CellFrame
    from functions.sampling.frame import Scope as FrameScope
    from functions.settings import Settings
    from functions.warnings.query import QuerySource
    from schemas.api import SupervisionIn

logger = logging.getLogger(__name__)

LIST_TYPES: tuple[str, ...] = tuple(SUPERVISION["precedence"])
DATASETS = ("supervision_lists", "entities", "annual_reports", "inspections")
COLUMNS = ["uscc", "name", "risk_class", "region_code", "industry_code", "entity_type", "rank",
           "disposition", "list_type", "reason"]  # fmt: skip
# disposition: whitelist | sandbox (own strata), inspected_recently (excluded), exit (back in its
# class, reason why), reinspect (inspected this year but drawable: reason by_class | by_warning)
SET_SCHEMA = pa.schema(
    [pa.field(c, pa.int64() if c == "rank" else pa.string(), nullable=c in ("list_type", "reason"))
     for c in COLUMNS]
)  # fmt: skip
_SEVERITIES = ("low", "medium", "high", "critical")


def judged_on(month: str) -> dt.date:
    """The day lists and the inspection year are judged on: the last day of the task's month."""
    return month_end(month)


def overdue_year(day: dt.date) -> int:
    """The latest report year overdue on ``day`` (a year's report is due by 30 June of the next)."""
    return day.year - 1 if (day.month, day.day) > (6, 30) else day.year - 2


def statement(day: dt.date) -> str:
    """The supervision set's rows before dispositions, in the Athena (Trino) dialect."""
    lists = SUPERVISION["lists"]
    ends = " ".join(
        f"WHEN '{t}' THEN date_add('month', {int(lists[t]['tolerance_months'])}, listed_from)"
        for t in LIST_TYPES
    )
    rank = " ".join(f"WHEN '{t}' THEN {len(LIST_TYPES) - i}" for i, t in enumerate(LIST_TYPES))
    first = " ".join(f"WHEN {len(LIST_TYPES) - i} THEN '{t}'" for i, t in enumerate(LIST_TYPES))
    d = f"DATE '{day.isoformat()}'"
    year = overdue_year(day)
    return f"""
WITH frame AS (
  SELECT uscc, name, risk_class, region_code, industry_code, entity_type,
         row_number() OVER (
           PARTITION BY risk_class, region_code, substr(industry_code, 1, 1), entity_type
           ORDER BY uscc) - 1 AS cell_rank
  FROM class_current
),
listed AS (
  SELECT uscc, max(CASE list_type {rank} END) AS level
  FROM supervision_lists
  WHERE listed_from <= {d}
    AND (tolerance_end IS NULL OR tolerance_end >= {d})
    AND (tolerance_end IS NOT NULL OR (CASE list_type {ends} END) > {d})
  GROUP BY uscc
),
inspected AS (
  SELECT DISTINCT uscc FROM inspections
  WHERE inspected_on >= DATE '{day.year}-01-01' AND inspected_on <= {d}
),
filed AS (
  SELECT DISTINCT uscc FROM annual_reports WHERE year = {year} AND filed_on IS NOT NULL
),
owing AS (
  SELECT uscc FROM entities WHERE established_on <= DATE '{year}-12-31'
)
SELECT f.uscc, f.name, f.risk_class, f.region_code, f.industry_code, f.entity_type,
       CAST(f.cell_rank AS BIGINT) AS cell_rank,
       CASE l.level {first} END AS list_type,
       (i.uscc IS NOT NULL) AS inspected,
       (l.uscc IS NOT NULL AND o.uscc IS NOT NULL AND r.uscc IS NULL) AS overdue
FROM frame f
LEFT JOIN listed l ON l.uscc = f.uscc
LEFT JOIN inspected i ON i.uscc = f.uscc
LEFT JOIN owing o ON o.uscc = f.uscc
LEFT JOIN filed r ON r.uscc = f.uscc
WHERE l.uscc IS NOT NULL OR i.uscc IS NOT NULL
ORDER BY f.uscc
"""


def dispositions(raw: pa.Table, options: SupervisionIn, warned: frozenset[str]) -> pa.Table:
    """The set from the engine's rows (pure): exits, precedence and re-inspection decided."""
    lists = SUPERVISION["lists"]
    cols = {c: raw.column(c).to_pylist() for c in raw.column_names}
    out: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    for k in range(raw.num_rows):
        cls, listed, inspected = cols["risk_class"][k], cols["list_type"][k], bool(cols["inspected"][k])
        disposition: str | None = None
        reason: str | None = None
        again = cls in options.reinspect_classes or cols["uscc"][k] in warned
        if listed is not None and options.lists:
            rules = lists[listed]
            if cls in rules["exit_classes"]:
                disposition, reason = "exit", "risk_class"
            elif rules["exit_on_overdue_annual_report"] and cols["overdue"][k]:
                disposition, reason = "exit", "annual_report_overdue"
            elif listed == "sandbox" or not (inspected and options.reinspection) or again:
                disposition = listed  # the sandbox is drawn at ratio 0 whether inspected or not
        if disposition in (None, "exit") and inspected and options.reinspection:
            if disposition == "exit":
                _append(out, cols, k, "exit", listed, reason)  # the exit is reported either way
            if again:
                disposition = "reinspect"
                reason = "by_class" if cls in options.reinspect_classes else "by_warning"
            else:
                disposition, reason = "inspected_recently", None
            listed = None
        if disposition is not None:
            _append(out, cols, k, disposition, listed, reason)
    return pa.Table.from_pydict(out, schema=SET_SCHEMA)


def _append(
    out: dict[str, list[Any]], cols: dict[str, list[Any]], k: int, disposition: str, listed: str | None,
    reason: str | None,
) -> None:  # fmt: skip
    for c in ("uscc", "name", "risk_class", "region_code", "industry_code", "entity_type"):
        out[c].append(cols[c][k])
    out["rank"].append(int(cols["cell_rank"][k]))
    out["disposition"].append(disposition)
    out["list_type"].append(listed)
    out["reason"].append(reason)


def digest(table: pa.Table) -> str:
    """SHA-256 over the set's rows, one tab-separated line each, in uscc then disposition order."""
    cols = [table.column(c).to_pylist() for c in COLUMNS]
    lines = sorted("\t".join("" if v is None else str(v) for v in row) for row in zip(*cols, strict=True))
    h = hashlib.sha256(b"supervision-set-v1\n")
    for line in lines:
        h.update(line.encode("utf-8") + b"\n")
    return "sha256:" + h.hexdigest()


def warned_entities(lake: Lake, province: str, severity: str) -> frozenset[str]:
    """Entities with an open warning of ``severity`` or higher (warnings are sparse)."""
    if severity == "never":
        return frozenset()
    from functions.warnings.store import current_warnings

    t = current_warnings(lake, province)
    low = _SEVERITIES.index(severity)
    states, sevs, codes = (t.column(c).to_pylist() for c in ("state", "severity", "uscc"))
    return frozenset(
        u
        for u, st, sv in zip(codes, states, sevs, strict=True)
        if st == "open" and _SEVERITIES.index(sv) >= low
    )


@dataclass(frozen=True)
class SupervisionSet:
    table: pa.Table  # SET_SCHEMA
    digest: str
    as_of: str
    day: str


def compute(
    lake: Lake,
    province: str,
    month: str,
    options: SupervisionIn,
    *,
    as_of: dt.datetime,
    settings: Settings | None = None,
    source: QuerySource | None = None,
) -> SupervisionSet:
    """Run the statement on the engine for the published classification of ``month`` as the
    lists and inspections were ingested up to ``as_of``, decide, store; returns the set."""
    from functions.warnings.query import Scope, open_source

    day = judged_on(month)
    own = source is None
    if source is None:
        scope = Scope(province, as_of, day, class_months={"class_current": month})
        job = f"supervision-{province}-{month}-{uuid.uuid4().hex[:12]}"  # concurrent registrations
        source = open_source(lake, scope, settings=settings, job=job, datasets=DATASETS)
    try:
        raw = source.query(statement(day), label="supervision set")
    finally:
        if own:
            source.close()
    table = dispositions(raw, options, warned_entities(lake, province, options.reinspect_warning_severity))
    at = as_of.isoformat(timespec="milliseconds")
    out = SupervisionSet(table, digest(table), at, day.isoformat())
    store(lake, province, out)
    logger.info("supervision set of %s %s: %d entities", province, month, table.num_rows)
    return out


def store(lake: Lake, province: str, s: SupervisionSet) -> None:
    """Write the set once under its digest. Content-addressed, so a set already there is the one
    wanted: the create-once write (what the bucket policy demands under ``tasks/``, docs/adr/0166)
    losing means another registration stored it first."""
    key = layout.supervision_set_key(province, s.digest)
    buf = io.BytesIO()
    meta = {"digest": s.digest, "as_of": s.as_of, "day": s.day}
    pq.write_table(s.table.replace_schema_metadata(meta), buf, compression="zstd")
    try:
        lake.write_bytes(key, buf.getvalue(), if_none_match=True)
    except WriteConflict:
        logger.debug("supervision set %s of %s stored already", s.digest, province)


def load(lake: Lake, province: str, wanted: str) -> SupervisionSet:
    """The stored set named by ``wanted``; its rows must hash to that name."""
    key = layout.supervision_set_key(province, wanted)
    try:
        with lake.open_input_file(key) as f:
            t = pq.ParquetFile(f).read()
    except FileNotFoundError:
        raise StorageError(f"the supervision set {wanted} is missing") from None
    except (OSError, pa.ArrowInvalid) as exc:
        raise StorageError(f"cannot read the supervision set {wanted}: {exc}") from exc
    meta = {k.decode(): v.decode() for k, v in (t.schema.metadata or {}).items()}
    table = t.replace_schema_metadata(None).cast(SET_SCHEMA)
    if digest(table) != wanted:
        raise StorageError(f"the supervision set {wanted} does not hash to its name")
    return SupervisionSet(table, wanted, meta.get("as_of", ""), meta.get("day", ""))


# -- applying a set to a draw (pure) ------------------------------------------------------------
LEAVE_STRATA = ("whitelist", "sandbox", "inspected_recently")


def in_scope(table: pa.Table, scope: FrameScope) -> pa.Table:
    """The set's rows inside a draw's scope (region prefix, sections, entity types, and not
    excluded by hand), sorted by uscc: the scope of the lists is the task's."""
    from functions.sampling import frame as frames

    mask = pc.is_valid(table["uscc"])
    if scope.region_prefix:
        mask = pc.and_(mask, pc.starts_with(table["region_code"], pattern=scope.region_prefix))
    if scope.industries:
        section = pc.utf8_slice_codeunits(table["industry_code"], 0, 1)
        mask = pc.and_(mask, pc.is_in(section, value_set=frames.string_array(sorted(scope.industries))))
    if scope.entity_types:
        types = frames.string_array(sorted(scope.entity_types))
        mask = pc.and_(mask, pc.is_in(table["entity_type"], value_set=types))
    if scope.exclude:
        gone = frames.string_array(sorted(set(scope.exclude)))
        mask = pc.and_(mask, pc.invert(pc.is_in(table["uscc"], value_set=gone)))
    out = table.filter(mask)
    return out.take(pc.sort_indices(out, sort_keys=[("uscc", "ascending"), ("disposition", "ascending")]))


def leaving_strata(listed: pa.Table) -> pa.Table:
    """Rows of entities that leave their class stratum (own list stratum, or excluded)."""
    from functions.sampling import frame as frames

    return listed.filter(pc.is_in(listed["disposition"], value_set=frames.string_array(list(LEAVE_STRATA))))


def located(frame: CellFrame, rows: pa.Table) -> list[tuple[str, int, int]]:
    """``(class, index row of the cell, rank in the cell)`` of each row, for
    :func:`functions.sampling.cells.with_excluded`."""
    out: list[tuple[str, int, int]] = []
    cols = [rows.column(c).to_pylist() for c in ("risk_class", "region_code", "industry_code", "entity_type",
                                                  "rank")]  # fmt: skip
    for cls, region, industry, etype, rank in zip(*cols, strict=True):
        cell = frame.cell_of((cls, region, industry[:1], etype))
        if cell is None:
            raise StorageError(f"run {frame.run_id}: the supervision set names a cell the copy lacks")
        out.append((cls, cell, int(rank)))
    return out


def list_draw(
    listed: pa.Table, seed: str, options: SupervisionIn, columns: list[str]
) -> tuple[pa.Table, dict[str, Any]]:
    """The list strata's targets (whitelist at its ratio, sandbox at ratio 0, uscc order, one
    independent stream per list) and the plan's ``supervision`` report (without the set's name)."""
    from functions.sampling import draw as drawing

    lists = SUPERVISION["lists"]
    disp = listed["disposition"]
    strata: list[dict[str, Any]] = []
    picked: list[pa.Table] = []
    for name in sorted(LIST_TYPES, key=lambda t: t != "whitelist"):
        members = listed.filter(pc.equal(disp, name))
        ratio = float(lists[name].get("fixed_ratio", options.whitelist_ratio))
        n = members.num_rows
        pos = drawing.floyd_positions(seed, f"list:{name}", n, drawing.sample_size(n, ratio))
        strata.append({"list": name, "population": n, "ratio": ratio, "sampled": len(pos)})
        if len(pos):
            picked.append(members.select(columns).take(pa.array(np.asarray(pos, dtype=np.int64))))
    exits = listed.filter(pc.equal(disp, "exit"))
    codes, types, why = (exits.column(c).to_pylist() for c in ("uscc", "list_type", "reason"))
    again = listed.filter(pc.equal(disp, "reinspect")).column("reason").to_pylist()
    report = {
        "strata": strata,
        "exits": [{"uscc": u, "list": t, "reason": r} for u, t, r in zip(codes, types, why, strict=True)],
        "reinspection": {
            "excluded": int(pc.sum(pc.cast(pc.equal(disp, "inspected_recently"), pa.int64())).as_py() or 0),
            "by_class": again.count("by_class"),
            "by_warning": again.count("by_warning"),
        },
    }
    empty = pa.Table.from_pydict({c: pa.array([], pa.string()) for c in columns})
    return (pa.concat_tables(picked) if picked else empty), report
