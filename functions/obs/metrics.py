"""CloudWatch metrics as embedded-metric-format (EMF) log lines (issue 12, docs/operations.md).

A pure builder (``emf_document``) makes one EMF document; ``ingest_metrics`` and
``monthly_metrics`` say which metrics an ingest report or a monthly summary yields; ``emit``
is the thin adapter that writes one JSON line to stdout, where Lambda's log agent hands it to
CloudWatch Logs, which extracts the metrics (no API call, no agent, no boto3 client).

Every document carries two dimension sets: ``[Province]`` (one series per province) and ``[]``
(one series over all provinces), so a single alarm covers every province.
Spec: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any, Literal

NAMESPACE = "creditrisk"
PROVINCE = "Province"
Unit = Literal["Count", "Seconds"]

# name -> unit: the metrics this platform publishes (docs/operations.md lists them)
METRICS: dict[str, Unit] = {
    "IngestRows": "Count",
    "RowsQuarantined": "Count",
    "FilesRejected": "Count",
    "MonthlyRunFailed": "Count",
    "MonthlyRunSeconds": "Seconds",
}
MAX_DIMENSIONS = 30  # per dimension set (EMF spec)
MAX_METRICS = 100  # per directive (EMF spec)


@dataclass(frozen=True)
class Measurement:
    """Values of some of ``METRICS`` for one province at one instant, plus searchable context
    (ids and codes only: EMF documents are log lines, so never personal data)."""

    province: str
    values: Mapping[str, float]
    properties: Mapping[str, str | int]


def timestamp_ms(at: dt.datetime) -> int:
    if at.tzinfo is None:
        raise ValueError("metric timestamps must be timezone-aware")
    return int(at.timestamp() * 1000)


def emf_document(m: Measurement, *, at: dt.datetime, namespace: str = NAMESPACE) -> dict[str, Any]:
    """One EMF document: ``_aws`` metadata, the ``Province`` dimension value, the metric values
    and the properties as root members."""
    unknown = sorted(set(m.values) - set(METRICS))
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; known: {sorted(METRICS)}")
    if not m.values or len(m.values) > MAX_METRICS:
        raise ValueError(f"an EMF directive holds 1..{MAX_METRICS} metrics, got {len(m.values)}")
    clash = sorted(set(m.properties) & ({PROVINCE, "_aws"} | set(m.values)))
    if clash:
        raise ValueError(f"properties {clash} would overwrite a dimension or a metric")
    doc: dict[str, Any] = {
        "_aws": {
            "Timestamp": timestamp_ms(at),
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [[PROVINCE], []],
                    "Metrics": [{"Name": name, "Unit": METRICS[name]} for name in sorted(m.values)],
                }
            ],
        },
        PROVINCE: str(m.province),
    }
    doc.update(m.properties)
    for name, value in m.values.items():
        doc[name] = float(value) if isinstance(value, float) else int(value)
    return doc


def ingest_metrics(report: Any) -> Measurement | None:
    """What one ingest report yields; a duplicate delivery (nothing done) yields nothing, so a
    re-drive never counts a file twice."""
    if report.status == "duplicate":
        return None
    return Measurement(
        province=report.province,
        values={
            "IngestRows": report.rows_accepted,
            "RowsQuarantined": report.rows_rejected,
            "FilesRejected": 1 if report.status == "rejected_file" else 0,
        },
        properties={"ingest_id": report.ingest_id, "dataset": report.dataset, "status": report.status},
    )


def monthly_metrics(summary: Mapping[str, Any]) -> list[Measurement]:
    """One measurement per province of a ``run_monthly`` summary. A province fails when its
    classification failed or its follow-ups (warnings, analysis, report) did; ``no_data`` is
    not a failure."""
    out = []
    for province, info in sorted(summary["provinces"].items()):
        failed = info.get("status") == "failed" or info.get("follow_up", {}).get("status") == "failed"
        values: dict[str, float] = {"MonthlyRunFailed": 1 if failed else 0}
        if info.get("seconds") is not None:
            values["MonthlyRunSeconds"] = round(float(info["seconds"]), 3)
        props: dict[str, str | int] = {"month": summary["month"], "status": str(info.get("status"))}
        if info.get("run_id"):
            props["run_id"] = info["run_id"]
        out.append(Measurement(province=province, values=values, properties=props))
    return out


def emit(docs: list[dict[str, Any]], *, stream: IO[str] | None = None) -> None:
    """Write each document as one JSON line (the whole log event must be the JSON object)."""
    out = stream or sys.stdout
    for doc in docs:
        out.write(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")
    out.flush()
