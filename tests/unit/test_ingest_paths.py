"""Landing keys and recorded S3 event records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from functions.ingest.paths import decode_event_key, format_of, parse_landing_key
from schemas.ingest import S3ObjectRecord

EVENTS = Path(__file__).parent.parent / "fixtures" / "events"


def test_parse_ok() -> None:
    lk = parse_landing_key("incoming/42/penalties/2026-10处罚.csv.gz")
    assert (lk.province, lk.dataset, lk.filename, lk.fmt, lk.problem) == (
        "42", "penalties", "2026-10处罚.csv.gz", "csv.gz", None
    )  # fmt: skip


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("incoming/00/penalties/a.csv", "bad_province"),
        ("incoming/42/nope/a.csv", "unknown_dataset"),
        ("incoming/42/penalties/a.txt", "unsupported_format"),
        ("incoming/42/penalties/sub/a.csv", "bad_path"),
        ("elsewhere/42/penalties/a.csv", "bad_path"),
    ],
)
def test_parse_problems(key: str, reason: str) -> None:
    problem = parse_landing_key(key).problem
    assert problem is not None and problem.details["reason"] == reason


def test_formats_and_decoding() -> None:
    assert [format_of(n) for n in ["a.CSV", "a.jsonl.GZ", "a.parquet", "a.gz"]] == [
        "csv",
        "jsonl.gz",
        "parquet",
        None,
    ]
    assert (
        decode_event_key("incoming/42/entities/month%3D2026-10+a.csv")
        == "incoming/42/entities/month=2026-10 a.csv"
    )


def test_recorded_events_parse() -> None:
    [rec] = S3ObjectRecord.from_event(json.loads((EVENTS / "s3_put_penalties_encoded.json").read_text()))
    assert rec.key == "incoming/42/penalties/2026-10处罚 第1批.csv"
    assert rec.version_id and rec.etag and rec.sequencer
    [rec2] = S3ObjectRecord.from_event(
        json.loads((EVENTS / "s3_put_entities_month_partition.json").read_text())
    )
    assert rec2.key == "incoming/42/entities/month=2026-10.csv.gz"
