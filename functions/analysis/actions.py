"""A county's action list: the entities to look at this month, one row each (ADR 0111).

Who is on it: the county's D-class entities, the entities with an inspection task this month and
those with a new warning this month. For each: name, class, score, the top reasons exactly as
``explain`` gives them (the stored reasons, highest points first), the suggested inspection
field and the suggested measure from the ladder 提醒 → 警示 → 约谈 → 检查. Fields and ladder are
data (``schemas/actions.yaml``). The D-class entities come from the engine (a filtered
aggregate-sized query); the tasks' and warnings' entities from a filtered Parquet scan.
"""

from __future__ import annotations

import logging
import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import yaml
from pydantic import BaseModel, ConfigDict, Field

import schemas
from functions.analysis import names
from functions.analysis.engine import open_engine
from functions.analysis.lookup import entity_rows
from functions.classify.curated_views import RESULTS_TABLE
from functions.errors import InvalidInput, NotFound
from functions.warnings.compile import q
from functions.warnings.store import load_tasks, load_warnings
from schemas.results import RISK_CLASSES

if TYPE_CHECKING:
    from functions.lake import Lake
    from functions.settings import Settings

logger = logging.getLogger(__name__)
CONFIG_PATH = Path(schemas.__file__).with_name("actions.yaml")
COUNTY_RE = re.compile(r"^[0-9]{6}$")
SEVERITIES = ("low", "medium", "high", "critical")
MEASURE_ORDER = ("inspection", "interview", "warning", "reminder")
TOP_REASONS = 3
ENTITY_COLUMNS = ["uscc", "name", "region_code", "industry_code", "risk_class", "risk_score", "reasons"]


class FieldLabel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    code: str
    label: str


class Step(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    measure: Literal["reminder", "warning", "interview", "inspection"]
    why: str
    classes: tuple[str, ...] | None = None
    signals: tuple[str, ...] | None = None
    task: bool | None = None
    severity: Literal["low", "medium", "high", "critical"] | None = None


class ActionsConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    default_field: FieldLabel
    fields: dict[str, FieldLabel]
    measures: dict[str, str]
    ladder: tuple[Step, ...] = Field(min_length=1)


@cache
def load_config(path: Path = CONFIG_PATH) -> ActionsConfig:
    return ActionsConfig.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


# -- pure: one entity's row ------------------------------------------------------------------
def top_reasons(reasons: list[dict[str, Any]] | None, k: int = TOP_REASONS) -> list[dict[str, Any]]:
    """The ``k`` reasons with most points, in the stored order for equal points (as ``explain``)."""
    ranked = sorted(enumerate(reasons or []), key=lambda p: (-float(p[1].get("points") or 0.0), p[0]))
    return [r for _, r in ranked[:k]]


def _meets(step: Step, cls: str | None, signals: set[str], task: bool, severity: int) -> bool:
    if step.classes is not None and cls not in step.classes:
        return False
    if step.signals is not None and not signals & set(step.signals):
        return False
    if step.task is not None and step.task != task:
        return False
    return not (step.severity is not None and severity < SEVERITIES.index(step.severity))


def suggest(
    entity: dict[str, Any], tasks: list[dict[str, Any]], warnings: list[dict[str, Any]], cfg: ActionsConfig
) -> dict[str, Any]:
    """The action-list row of one entity (its classification row, its tasks and warnings)."""
    top = top_reasons(entity.get("reasons"))
    reason_codes = [str(r["code"]) for r in entity.get("reasons") or []]
    task_rules = [str(t["rule"]).split("@", 1)[0] for t in tasks]
    warn_rules = [str(w["rule_id"]) for w in warnings]
    signals = set(reason_codes) | set(task_rules) | set(warn_rules)
    severity = max(
        (SEVERITIES.index(w["severity"]) for w in warnings if w["severity"] in SEVERITIES), default=-1
    )
    order = [*task_rules, *(str(r["code"]) for r in top), *reason_codes, *warn_rules]
    field = next((cfg.fields[s] for s in order if s in cfg.fields), cfg.default_field)
    cls = entity.get("risk_class")
    step = next((s for s in cfg.ladder if _meets(s, cls, signals, bool(tasks), severity)), cfg.ladder[-1])
    return {
        "uscc": entity["uscc"],
        "name": entity.get("name") or "",
        "region_code": entity.get("region_code") or "",
        "industry_code": entity.get("industry_code") or "",
        "risk_class": cls,
        "risk_score": entity.get("risk_score"),
        "reasons": [f"{r['label']} (+{float(r['points']):g})" for r in top],
        "tasks": len({t["task_id"] for t in tasks}),
        "warnings": sorted({str(w["rule_name"]) for w in warnings}),
        "max_severity": SEVERITIES[severity] if severity >= 0 else None,
        "field_code": field.code,
        "field": field.label,
        "measure_code": step.measure,
        "measure": cfg.measures.get(step.measure, step.measure),
        "why": step.why,
    }


def rank(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Strongest measure first, then with a task, class (D first), score (highest first), code."""
    cls_rank = {c: i for i, c in enumerate(reversed(RISK_CLASSES))}
    return sorted(
        rows,
        key=lambda r: (
            MEASURE_ORDER.index(r["measure_code"]),
            -int(r["tasks"] > 0),
            cls_rank.get(r["risk_class"], len(RISK_CLASSES)),
            -float(r["risk_score"] or 0.0),
            r["uscc"],
        ),
    )


# -- I/O: who is on the list -----------------------------------------------------------------
def d_class_sql(province: str, month: str, county: str) -> str:
    cols = ", ".join(ENTITY_COLUMNS)
    return (
        f"SELECT {cols} FROM {RESULTS_TABLE} WHERE province = {q(province)} AND month = {q(month)} "
        f"AND risk_class = 'D' AND substr(region_code, 1, {len(county)}) = {q(county)}"
    )


def counties_sql(province: str, month: str) -> str:
    return (
        f"SELECT substr(region_code, 1, 6) AS code, risk_class, count(*) AS entities FROM {RESULTS_TABLE} "
        f"WHERE province = {q(province)} AND month = {q(month)} GROUP BY 1, 2"
    )


def _by_uscc(table: pa.Table) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in table.to_pylist():
        out.setdefault(r["uscc"], []).append(r)
    return out


def validate_county(county: str, province: str) -> str:
    if not COUNTY_RE.match(county or ""):
        raise InvalidInput(f"county must be a 6-digit GB/T 2260 code, got {county!r}", field="county")
    if county[:2] != province:
        raise InvalidInput(f"county {county} is not in province {province}", field="county")
    return county


def county_counts(source: Any, province: str, month: str) -> dict[str, dict[str, int]]:
    """{county: {class: entities}} of the month (an aggregate on the engine)."""
    t = source.query(counties_sql(province, month), label=f"counties of {province}")
    out: dict[str, dict[str, int]] = {}
    for code, c, n in zip(
        t["code"].to_pylist(), t["risk_class"].to_pylist(), t["entities"].to_pylist(), strict=True
    ):
        if code:
            out.setdefault(str(code), {})[str(c)] = int(n)
    return out


def task_reasons(tasks: pa.Table) -> pa.Table:
    """One row per (task, reason): an entity has one task a month listing every rule that fired
    (docs/adr/0103); the ladder and the page read the rules."""
    reasons = tasks["reasons"]
    parents = pc.list_parent_indices(reasons)
    flat = pc.list_flatten(reasons)
    return pa.table(
        {
            "task_id": tasks["task_id"].take(parents),
            "uscc": tasks["uscc"].take(parents),
            "rule": pc.struct_field(flat, "rule"),
        }
    )


def action_lists(
    lake: Lake,
    *,
    month: str,
    province: str,
    counties: list[str] | None = None,
    settings: Settings | None = None,
    engine: str | None = None,
    athena_runner: Any = None,
    boto3_session: Any = None,
) -> list[dict[str, Any]]:
    """One page's data per county (all counties of the month when ``counties`` is ``None``)."""
    from functions.layout import validate_scope

    validate_scope(month, province)
    for c in counties or []:
        validate_county(c, province)
    cfg = load_config()
    # Arrow until a county is chosen: a large province has hundreds of thousands of warnings,
    # and only one county's rows become Python objects at a time (bench/report.py).
    tasks = task_reasons(load_tasks(lake, month, province))
    every = load_warnings(lake, month, province)
    if "state" in every.column_names:  # open warnings about an entity (not resolved, not data gaps)
        every = every.filter(pc.and_(pc.equal(every["state"], "open"), pc.is_valid(every["uscc"])))
    warnings = every.select(["uscc", "rule_id", "rule_name", "severity"])
    flagged = set(tasks["uscc"].to_pylist()) | set(warnings["uscc"].to_pylist())
    found = entity_rows(lake, month, province, flagged, ENTITY_COLUMNS)
    source = open_engine(
        lake,
        province,
        settings=settings,
        engine=engine,
        athena_runner=athena_runner,
        boto3_session=boto3_session,
    )
    pages = []
    try:
        per_county = county_counts(source, province, month)
        if not per_county:
            raise NotFound(
                f"no published classification for province {province}, month {month}", field="month"
            )
        wanted = sorted(per_county) if counties is None else counties
        missing = [c for c in wanted if c not in per_county]
        if missing:
            raise NotFound(
                f"no classified entities in county {', '.join(missing)} in {month}", field="county"
            )
        for county in wanted:
            d_rows = source.query(
                d_class_sql(province, month, county), label=f"D class of {county}"
            ).to_pylist()
            entities = {r["uscc"]: r for r in d_rows}
            if found is not None and found.num_rows:
                mine = found.filter(pc.starts_with(pc.fill_null(found["region_code"], ""), county))
                for r in mine.to_pylist():
                    entities.setdefault(r["uscc"], r)
            codes = pa.array(list(entities), pa.string())
            tasks_of = _by_uscc(tasks.filter(pc.is_in(tasks["uscc"], value_set=codes)))
            warnings_of = _by_uscc(warnings.filter(pc.is_in(warnings["uscc"], value_set=codes)))
            rows = rank(
                [suggest(e, tasks_of.get(u, []), warnings_of.get(u, []), cfg) for u, e in entities.items()]
            )
            pages.append(
                {
                    "month": month,
                    "province": province,
                    "province_name": names.region_name(province),
                    "county": county,
                    "county_name": names.region_path(county),
                    "class_counts": {c: per_county.get(county, {}).get(c, 0) for c in RISK_CLASSES},
                    "rows": rows,
                    "d_class": len(d_rows),
                    "with_task": sum(1 for r in rows if r["tasks"]),
                    "with_warning": sum(1 for r in rows if r["warnings"]),
                    "unclassified_signals": len(flagged) - (0 if found is None else found.num_rows),
                    "names_source": names.source(),
                }
            )
    finally:
        source.close()
    logger.info("action lists of %d counties for %s/%s", len(pages), province, month)
    return pages
