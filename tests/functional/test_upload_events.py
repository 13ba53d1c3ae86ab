"""Uploads through the Chalice S3 handler (``chalice.test.Client``) on moto S3 and a local lake.

The test client's own event carries the key unencoded and a fixed eTag; the recorded fixtures
in tests/fixtures/events carry the real shape (URL-encoded key, versionId, sequencer).
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest
from chalice.test import Client

import app as app_module
from functions import layout
from functions.lake import Lake
from tests.ingest_data import penalty_rows, resident_id, to_csv

FIXTURES = Path(__file__).parent.parent / "fixtures" / "events"
REGION = "cn-north-1"


def _fixture(name: str, bucket: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((FIXTURES / name).read_text().replace("BUCKET", bucket))
    return event


def _snapshot(lake: Lake) -> dict[str, bytes]:
    return {f.key: lake.read_bytes(f.key) for f in lake.list_files("", include_hidden=True)}


class S3Env:
    def __init__(self, client: Client, s3: Any, landing_bucket: str, lake: Lake) -> None:
        self.client, self.s3, self.bucket, self.lake = client, s3, landing_bucket, lake

    def put(self, key: str, body: bytes) -> dict[str, Any]:
        out: dict[str, Any] = self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        return out

    def invoke(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        resp = self.client.lambda_.invoke("on_upload", event)
        payload: list[dict[str, Any]] = resp.payload
        return payload


@pytest.fixture
def s3env(
    monkeypatch: pytest.MonkeyPatch, moto_endpoint: str, boto3_session: boto3.Session, s3_bucket: str
) -> Iterator[S3Env]:
    s3 = boto3_session.client("s3", endpoint_url=moto_endpoint)
    landing_bucket = f"landing-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=landing_bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=landing_bucket, VersioningConfiguration={"Status": "Enabled"})
    monkeypatch.setenv("CREDITRISK_LAKE_URI", f"s3://{s3_bucket}/lake")
    monkeypatch.setenv("CREDITRISK_LANDING_URI", f"s3://{landing_bucket}")
    monkeypatch.setenv("CREDITRISK_AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("CREDITRISK_REGION", REGION)
    app_module.reset()
    lake = Lake.from_uri(
        f"s3://{s3_bucket}/lake", region=REGION, endpoint_url=moto_endpoint, boto3_session=boto3_session
    )
    with Client(app_module.app) as client:
        yield S3Env(client, s3, landing_bucket, lake)
    app_module.reset()


def test_recorded_event_with_encoded_key_and_duplicate_delivery(s3env: S3Env) -> None:
    key = "incoming/42/penalties/2026-10处罚 第1批.csv"
    rows = penalty_rows(30)
    rows[4]["kind"] = "jail"
    put = s3env.put(key, to_csv(rows).encode("gb18030"))
    event = _fixture("s3_put_penalties_encoded.json", s3env.bucket)
    assert event["Records"][0]["s3"]["object"]["key"] == quote_plus(key, safe="/")
    event["Records"][0]["s3"]["object"]["versionId"] = put["VersionId"]
    [result] = s3env.invoke(event)
    assert result["status"] == "accepted" and result["source_key"] == key
    assert (result["rows_read"], result["rows_accepted"], result["rows_rejected"]) == (30, 29, 1)
    report = s3env.lake.read_json(layout.ingest_report_key("42", "penalties", result["ingest_id"]))
    assert report["version_id"] == put["VersionId"]
    assert report["etag"] == "0123456789abcdef0123456789abcdef"
    assert report["encoding"] == "gb18030"
    curated = s3env.lake.read_parquet(layout.curated_key("penalties", "42", result["ingest_id"]))
    assert curated.num_rows == 29

    before = _snapshot(s3env.lake)
    [again] = s3env.invoke(event)  # S3 delivers at least once
    assert again["status"] == "duplicate"
    assert _snapshot(s3env.lake) == before


def test_partition_style_key_gz(s3env: S3Env) -> None:
    from tests.ingest_data import code

    rows = [
        {"uscc": code(i), "name": f"企业{i}", "entity_type": "enterprise", "region_code": "420102",
         "industry_code": "C13", "established_on": "2010/01/01", "status": "active"}
        for i in range(10)
    ]  # fmt: skip
    s3env.put("incoming/42/entities/month=2026-10.csv.gz", gzip.compress(to_csv(rows).encode()))
    [result] = s3env.invoke(_fixture("s3_put_entities_month_partition.json", s3env.bucket))
    assert result["source_key"] == "incoming/42/entities/month=2026-10.csv.gz", result
    assert (result["status"], result["rows_accepted"]) == ("accepted", 10), (
        result.get("file_reason"),
        result.get("file_message"),
    )


def test_test_client_event_and_rejected_file(s3env: S3Env) -> None:
    s3env.put("incoming/42/penalties/bad.csv", b"decision_no\nD1\n")
    event = s3env.client.events.generate_s3_event(bucket=s3env.bucket, key="incoming/42/penalties/bad.csv")
    [result] = s3env.invoke(event)
    assert (result["status"], result["file_reason"]) == ("rejected_file", "missing_column")
    assert s3env.lake.list_files("curated") == []
    assert len(s3env.lake.list_files("archive")) == 1


def test_personal_data_masked_on_s3(s3env: S3Env) -> None:
    rid = resident_id()
    rows = penalty_rows(50)
    rows[10]["authority"] = rid
    s3env.put("incoming/42/penalties/p.csv", to_csv(rows).encode())
    event = s3env.client.events.generate_s3_event(bucket=s3env.bucket, key="incoming/42/penalties/p.csv")
    [result] = s3env.invoke(event)
    assert result["rows_rejected"] == 1
    for key, blob in _snapshot(s3env.lake).items():
        if not key.startswith("archive/"):
            assert rid.encode() not in blob, key


def test_deleted_object_is_skipped(s3env: S3Env) -> None:
    event = s3env.client.events.generate_s3_event(bucket=s3env.bucket, key="incoming/42/penalties/gone.csv")
    assert s3env.invoke(event) == [{"source_key": "incoming/42/penalties/gone.csv", "status": "missing"}]


def test_local_lake_through_the_handler(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CREDITRISK_LAKE_URI", str(tmp_path / "lake"))
    monkeypatch.setenv("CREDITRISK_LANDING_URI", str(tmp_path / "landing"))
    app_module.reset()
    landing = Lake.from_uri(str(tmp_path / "landing"))
    lake = Lake.from_uri(str(tmp_path / "lake"))
    key = "incoming/42/penalties/月报.jsonl"
    landing.write_bytes(key, "\n".join(json.dumps(r, ensure_ascii=False) for r in penalty_rows(5)).encode())
    try:
        with Client(app_module.app) as client:
            event = client.events.generate_s3_event(
                bucket="creditrisk-landing", key=quote_plus(key, safe="/")
            )
            [first] = client.lambda_.invoke("on_upload", event).payload
            before = _snapshot(lake)
            [second] = client.lambda_.invoke("on_upload", event).payload
    finally:
        app_module.reset()
    assert (first["status"], first["rows_accepted"], second["status"]) == ("accepted", 5, "duplicate")
    assert _snapshot(lake) == before
    assert len(lake.list_files(layout.INGEST_LEDGER_PREFIX, include_hidden=True)) == 1


# -- issue 12: 404 vs 403, metrics, ids on the handler's log lines ---------------------------------
def _emf_lines(out: str) -> list[dict[str, Any]]:
    docs = [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]
    return docs


def test_refused_read_is_raised_for_a_retry_not_skipped_as_gone(
    s3env: S3Env, s3_denied_lake: Lake, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Without s3:ListBucket S3 answers 403 for a missing key: that must end in Lambda's retries
    and the DLQ (where it can be re-driven once the grant is fixed), never in "missing"."""
    from functions.errors import StorageAccessDenied
    from functions.obs.context import install

    install([caplog.handler])
    monkeypatch.setattr(app_module, "_landing", s3_denied_lake)
    event = s3env.client.events.generate_s3_event(bucket=s3env.bucket, key="incoming/42/penalties/a.csv")
    with pytest.raises(StorageAccessDenied, match="s3:ListBucket"):
        s3env.invoke(event)
    [logged] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert "cannot be read" in logged.getMessage()
    assert logged.source_key == "incoming/42/penalties/a.csv"  # type: ignore[attr-defined]
    assert s3env.lake.list_files("", include_hidden=True) == []  # nothing recorded as done


def test_upload_emits_metrics_and_its_lines_carry_the_ingest_id(
    s3env: S3Env, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    from functions.obs.context import install

    install([caplog.handler])
    caplog.set_level("INFO", logger="app")
    rows = penalty_rows(40)
    rows[3]["kind"] = "jail"  # one row quarantined
    s3env.put("incoming/42/penalties/m.csv", to_csv(rows).encode())
    event = s3env.client.events.generate_s3_event(bucket=s3env.bucket, key="incoming/42/penalties/m.csv")
    [result] = s3env.invoke(event)
    [again] = s3env.invoke(event)  # a re-delivery (or a DLQ re-drive): no second count
    assert (result["status"], again["status"]) == ("accepted", "duplicate")
    [doc] = _emf_lines(capsys.readouterr().out)
    assert doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "creditrisk"
    counts = (doc["Province"], doc["IngestRows"], doc["RowsQuarantined"], doc["FilesRejected"])
    assert counts == ("42", 39, 1, 0)
    assert doc["ingest_id"] == result["ingest_id"]
    done = [r for r in caplog.records if r.name == "app" and r.getMessage().startswith("ingest ")]
    assert [r.ingest_id for r in done] == [result["ingest_id"]] * 2  # type: ignore[attr-defined]
