"""EMF documents (issue 12 "Observability"), checked against the embedded metric format spec:
``_aws.Timestamp`` in epoch milliseconds; ``CloudWatchMetrics`` directives with ``Namespace``,
``Dimensions`` (arrays of dimension-key arrays, each key a string member of the root) and
``Metrics`` (``Name`` and ``Unit``, each name a numeric member of the root)."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pytest

from functions.obs.metrics import (
    METRICS,
    Measurement,
    emf_document,
    emit,
    ingest_metrics,
    monthly_metrics,
)
from schemas.ingest import IngestReport

AT = dt.datetime(2026, 11, 2, 3, 0, 0, 250_000, tzinfo=dt.UTC)
CW_UNITS = {"Seconds", "Microseconds", "Milliseconds", "Bytes", "Count", "Percent", "None"}


def assert_valid_emf(doc: dict[str, Any]) -> None:
    """The spec's structural rules (a subset that a wrong document would break)."""
    meta = doc["_aws"]
    assert isinstance(meta["Timestamp"], int) and meta["Timestamp"] > 10**12  # milliseconds
    assert meta["CloudWatchMetrics"], "at least one directive"
    for directive in meta["CloudWatchMetrics"]:
        assert set(directive) == {"Namespace", "Dimensions", "Metrics"}
        assert 1 <= len(directive["Namespace"]) <= 1024
        for dimension_set in directive["Dimensions"]:
            assert len(dimension_set) <= 30
            for key in dimension_set:
                assert isinstance(doc[key], str), f"dimension {key} must be a string member"
        assert 1 <= len(directive["Metrics"]) <= 100
        for metric in directive["Metrics"]:
            assert set(metric) <= {"Name", "Unit", "StorageResolution"}
            assert metric["Unit"] in CW_UNITS
            value = doc[metric["Name"]]
            assert isinstance(value, (int, float)) and not isinstance(value, bool)


def _report(**over: Any) -> IngestReport:
    base: dict[str, Any] = {
        "ingest_id": "0123456789abcdef0123",
        "source_key": "incoming/42/penalties/a.csv",
        "province": "42",
        "dataset": "penalties",
        "size": 10,
        "sha256": "0" * 64,
        "format": "csv",
        "status": "accepted",
        "ingested_at": "2026-11-02T03:00:00Z",
        "archive_key": "archive/x",
        "report_key": "reports/x",
        "rows_read": 100,
        "rows_accepted": 97,
        "rows_rejected": 3,
    }
    return IngestReport.model_validate({**base, **over})


def test_ingest_document_exactly() -> None:
    measured = ingest_metrics(_report())
    assert measured is not None
    doc = emf_document(measured, at=AT)
    assert doc == {
        "_aws": {
            "Timestamp": 1793588400250,
            "CloudWatchMetrics": [
                {
                    "Namespace": "creditrisk",
                    "Dimensions": [["Province"], []],
                    "Metrics": [
                        {"Name": "FilesRejected", "Unit": "Count"},
                        {"Name": "IngestRows", "Unit": "Count"},
                        {"Name": "RowsQuarantined", "Unit": "Count"},
                    ],
                }
            ],
        },
        "Province": "42",
        "ingest_id": "0123456789abcdef0123",
        "dataset": "penalties",
        "status": "accepted",
        "FilesRejected": 0,
        "IngestRows": 97,
        "RowsQuarantined": 3,
    }
    assert_valid_emf(doc)
    assert dt.datetime.fromtimestamp(doc["_aws"]["Timestamp"] / 1000, dt.UTC) == AT


def test_rejected_file_counts_one_and_duplicate_counts_nothing() -> None:
    rejected = ingest_metrics(_report(status="rejected_file", rows_accepted=0, rows_rejected=100))
    assert rejected is not None
    assert dict(rejected.values) == {"IngestRows": 0, "RowsQuarantined": 100, "FilesRejected": 1}
    assert ingest_metrics(_report(status="duplicate")) is None  # a re-drive never counts twice


def test_monthly_documents_per_province() -> None:
    summary = {
        "month": "2026-06",
        "provinces": {
            "13": {"status": "published", "run_id": "r13", "counts": {}, "seconds": 12.5},
            "42": {"status": "failed", "message": "boom", "seconds": 0.25},
            "44": {"status": "published", "run_id": "r44", "seconds": 3.0, "follow_up": {"status": "failed"}},
            "50": {"status": "no_data", "message": "no entities", "seconds": 0.01},
        },
    }
    docs = [emf_document(m, at=AT) for m in monthly_metrics(summary)]
    for doc in docs:
        assert_valid_emf(doc)
        assert doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Province"], []]
    got = {d["Province"]: (d["MonthlyRunFailed"], d["MonthlyRunSeconds"], d.get("run_id")) for d in docs}
    assert got == {
        "13": (0, 12.5, "r13"),
        "42": (1, 0.25, None),
        "44": (1, 3.0, "r44"),  # published, but its warnings/report failed: someone must look
        "50": (0, 0.01, None),
    }


def test_builder_refuses_what_cloudwatch_would_drop() -> None:
    with pytest.raises(ValueError, match="unknown metrics"):
        emf_document(Measurement("42", {"Typo": 1}, {}), at=AT)
    with pytest.raises(ValueError, match="timezone-aware"):
        emf_document(Measurement("42", {"IngestRows": 1}, {}), at=dt.datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="overwrite"):
        emf_document(Measurement("42", {"IngestRows": 1}, {"Province": "x"}), at=AT)
    with pytest.raises(ValueError, match=r"1\.\.100"):
        emf_document(Measurement("42", {}, {}), at=AT)


def test_emit_writes_one_json_object_per_line() -> None:
    out = io.StringIO()
    docs = [emf_document(Measurement(p, {"FilesRejected": 1}, {}), at=AT) for p in ("13", "42")]
    emit(docs, stream=out)
    lines = out.getvalue().splitlines()
    assert [json.loads(line) for line in lines] == docs  # nothing before or after the object


def test_every_metric_has_a_cloudwatch_unit() -> None:
    assert set(METRICS.values()) <= CW_UNITS
