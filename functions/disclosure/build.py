"""Build, export and publish a plan's public disclosure (一公开, docs/adr/0098).

The record is assembled from two sources only: the stored plan (ids, scope, each target's name
and USCC) and the curated ``inspections`` rows that name the plan (date, authority, outcome).
Rows are built from the public contract's fields by name (``schemas.disclosure``), so nothing
the plan holds internally — risk class, score, reasons, inspectors — can reach the export.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq

from functions import layout
from functions.errors import NotFound
from functions.sampling.plans import load_plan, province_of_plan
from schemas.disclosure import Disclosure, DisclosureRow, columns
from schemas.disclosure import layout as publicity

if TYPE_CHECKING:
    from functions.lake import Lake

logger = logging.getLogger(__name__)

INSPECTION_COLUMNS = ["inspection_id", "uscc", "inspected_on", "plan_id", "result", "authority"]
FORMATS = ("json", "csv")


def plan_inspections(lake: Lake, province: str, plan_id: str, as_of: dt.datetime) -> list[dict[str, Any]]:
    """The curated inspections naming ``plan_id`` as of ``as_of`` (latest ingest of each id)."""
    latest: dict[str, tuple[tuple[dt.datetime, str], dict[str, Any]]] = {}
    for f in lake.list_files(layout.curated_prefix("inspections", province)):
        if not f.key.endswith(".parquet"):
            continue
        with lake.open_input_file(f.key) as fh:
            t = pq.read_table(
                fh,
                columns=[*INSPECTION_COLUMNS, "_ingested_at", "_ingest_id"],
                filters=[("plan_id", "=", plan_id)],
            )
        for row in t.to_pylist():
            if row["_ingested_at"] > as_of:
                continue
            rank = (row["_ingested_at"], row["_ingest_id"])
            hit = latest.get(row["inspection_id"])
            if hit is None or rank > hit[0]:
                latest[row["inspection_id"]] = (rank, {c: row[c] for c in INSPECTION_COLUMNS})
    return [v for _, v in latest.values()]


def build(plan: dict[str, Any], inspections: list[dict[str, Any]], now: dt.datetime) -> Disclosure:
    """A pure function: the public record of ``plan`` from its inspection rows (404 when none)."""
    plan_id = str(plan["plan_id"])
    lay = publicity()
    names = {t["uscc"]: t["name"] for t in plan["targets"]}
    req = plan.get("request") or {}
    directed = bool(req.get("region_prefix") or req.get("industries") or req.get("entity_types"))
    check_type = lay["check_types"]["directed" if directed else "undirected"]
    task_id = str(plan.get("task_id") or plan_id)
    per_entity: dict[str, dict[str, Any]] = {}
    outside = 0
    for r in inspections:
        if r["uscc"] not in names:
            outside += 1  # names a code the plan did not draw: not the plan's to publish
            continue
        seen = per_entity.get(r["uscc"])
        if seen is None or (r["inspected_on"], r["inspection_id"]) > (
            seen["inspected_on"],
            seen["inspection_id"],
        ):
            per_entity[r["uscc"]] = r
    if not per_entity:
        raise NotFound(f"no inspection results for plan {plan_id} yet", field="plan_id")
    if outside:
        logger.warning("plan %s: %d inspection row(s) name entities outside the plan", plan_id, outside)
    rows = [
        DisclosureRow(
            plan_id=plan_id,
            task_id=task_id,
            check_type=check_type,
            authority=r["authority"],
            completed_on=r["inspected_on"].isoformat(),
            name=names[code],
            uscc=code,
            result=lay["results"][r["result"]],
        )
        for code, r in sorted(per_entity.items(), key=lambda kv: (kv[1]["inspected_on"], kv[0]))
    ]
    return Disclosure(
        plan_id=plan_id,
        task_id=task_id,
        province=str(plan["province"]),
        check_type=check_type,
        completed_on=max(r.completed_on for r in rows),
        entities=len(rows),
        pending=len(names) - len(rows),
        published_at=now.isoformat(timespec="seconds"),
        rows=rows,
    )


def to_json(d: Disclosure) -> bytes:
    return d.model_dump_json().encode("utf-8")


def to_csv(d: Disclosure) -> bytes:
    """The publicity layout: Chinese headers, UTF-8 with a BOM (opens in spreadsheet tools)."""
    cols = columns()
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([zh for _, zh in cols])
    for row in d.rows:
        values = row.model_dump()
        w.writerow(["" if values[en] is None else values[en] for en, _ in cols])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def publish(lake: Lake, plan_id: str, *, now: dt.datetime | None = None) -> Disclosure:
    """Build the disclosure from what is in the lake now and write its JSON and CSV exports."""
    now = now or dt.datetime.now(dt.UTC)
    province = province_of_plan(plan_id)
    plan = load_plan(lake, plan_id)
    d = build(plan, plan_inspections(lake, province, plan_id, now), now)
    before = _published_record(lake, province, plan_id)
    if before is not None and before.model_dump(exclude={"published_at"}) == d.model_dump(
        exclude={"published_at"}
    ):
        # a duplicate S3 event (or a re-ingest of the same results): nothing new to publish,
        # and the record keeps the date it was first published with these contents
        logger.info("disclosure of plan %s unchanged; not republished", plan_id)
        return before
    lake.write_bytes(layout.disclosure_key(province, plan_id, "json"), to_json(d))
    lake.write_bytes(layout.disclosure_key(province, plan_id, "csv"), to_csv(d))
    logger.info("disclosure of plan %s published: %d entities, %d pending", plan_id, d.entities, d.pending)
    return d


def _published_record(lake: Lake, province: str, plan_id: str) -> Disclosure | None:
    try:
        return Disclosure.model_validate_json(
            lake.read_bytes(layout.disclosure_key(province, plan_id, "json"))
        )
    except (FileNotFoundError, ValueError):
        return None


def published(lake: Lake, plan_id: str, fmt: str = "json") -> bytes:
    """The published export (``GET /v1/public/disclosures/{plan_id}``); 404 until published."""
    if fmt not in FORMATS:
        from functions.errors import InvalidInput

        raise InvalidInput(f"format must be one of {', '.join(FORMATS)}", field="format")
    try:
        return lake.read_bytes(layout.disclosure_key(province_of_plan(plan_id), plan_id, fmt))
    except FileNotFoundError:
        raise NotFound(f"no disclosure published for plan {plan_id}", field="plan_id") from None


def plan_ids_in(lake: Lake, curated_key: str) -> list[str]:
    """The plan ids an ``inspections`` upload names (to publish their disclosures again)."""
    with lake.open_input_file(curated_key) as fh:
        ids = pq.read_table(fh, columns=["plan_id"]).column("plan_id").unique().to_pylist()
    return sorted(i for i in ids if i and layout.PLAN_ID_RE.match(i))


def after_ingests(lake: Lake, reports: list[Any], *, now: dt.datetime | None = None) -> dict[str, int]:
    """Publish again the disclosure of every plan an accepted ``inspections`` upload names;
    ``{plan_id: entities published}``. Never raises: the ingest is committed whatever happens."""
    out: dict[str, int] = {}
    for r in reports:
        if r.dataset != "inspections" or not r.curated_key or not r.rows_accepted:
            continue
        try:
            plan_ids = plan_ids_in(lake, r.curated_key)
        except Exception as exc:  # reported, never fails the ingest
            logger.warning("disclosure after ingest %s: %s", r.ingest_id, type(exc).__name__)
            continue
        for plan_id in plan_ids:
            if not plan_id.startswith(f"{r.province}-") or plan_id in out:
                continue  # a plan of another province is not this upload's to publish
            try:
                out[plan_id] = publish(lake, plan_id, now=now).entities
            except NotFound:
                continue  # unknown plan, or none of its targets among the results
            except Exception as exc:
                logger.warning("disclosure of plan %s failed: %s", plan_id, type(exc).__name__)
    return out
