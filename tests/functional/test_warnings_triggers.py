"""Warnings raised by the two triggers, through ``chalice.test.Client`` on moto: an upload
(real-time monitoring, with the SNS dispatch hook) and the monthly schedule (classification,
warnings, analysis and report for the province), plus ``creditrisk ingest`` running the same
upload follow-up."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from chalice.test import Client
from click.testing import CliRunner

import app as app_module
from functions import layout
from functions.lake import Lake
from functions.months import month_of
from functions.settings import get_settings
from functions.warnings.store import load_tasks, load_warnings
from tests.ingest_data import code, to_csv

REGION = "cn-north-1"
EVENT = json.loads((Path(__file__).parent.parent / "fixtures" / "scheduled_classify_event.json").read_text())


class Env:
    def __init__(self, client: Client, s3: Any, sqs: Any, bucket: str, lake: Lake, queue: str) -> None:
        self.client, self.s3, self.sqs, self.bucket, self.lake, self.queue = (
            client,
            s3,
            sqs,
            bucket,
            lake,
            queue,
        )

    def upload(self, key: str, body: bytes) -> list[dict[str, Any]]:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        event = self.client.events.generate_s3_event(bucket=self.bucket, key=key)
        payload: list[dict[str, Any]] = self.client.lambda_.invoke("on_upload", event).payload
        return payload

    def messages(self) -> list[dict[str, Any]]:
        got = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(json.loads(m["Body"])["Message"]) for m in got]


@pytest.fixture
def env(
    monkeypatch: pytest.MonkeyPatch, moto_endpoint: str, boto3_session: boto3.Session, s3_bucket: str
) -> Iterator[Env]:
    s3 = boto3_session.client("s3", endpoint_url=moto_endpoint)
    landing = f"landing-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=landing, CreateBucketConfiguration={"LocationConstraint": REGION})
    sns = boto3_session.client("sns", endpoint_url=moto_endpoint, region_name=REGION)
    sqs = boto3_session.client("sqs", endpoint_url=moto_endpoint, region_name=REGION)
    topic = sns.create_topic(Name=f"tasks-{uuid.uuid4().hex[:8]}")["TopicArn"]
    queue = sqs.create_queue(QueueName=f"tasks-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    monkeypatch.setenv("CREDITRISK_LAKE_URI", f"s3://{s3_bucket}/lake")
    monkeypatch.setenv("CREDITRISK_LANDING_URI", f"s3://{landing}")
    monkeypatch.setenv("CREDITRISK_AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("CREDITRISK_REGION", REGION)
    monkeypatch.setenv("CREDITRISK_WARNINGS_SNS_TOPIC_ARN", topic)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    app_module.reset()
    lake = Lake.from_uri(
        f"s3://{s3_bucket}/lake", region=REGION, endpoint_url=moto_endpoint, boto3_session=boto3_session
    )
    with Client(app_module.app) as client:
        yield Env(client, s3, sqs, landing, lake, queue)
    app_module.reset()


def _entities(n: int) -> bytes:
    rows = [
        {"uscc": code(i), "name": f"企业{i}", "entity_type": "enterprise", "region_code": "420102",
         "industry_code": "C13", "established_on": "2026-01-05", "status": "active"}
        for i in range(n)
    ]  # fmt: skip
    return to_csv(rows).encode()


def entity_warnings(lake: Lake, month: str) -> pa.Table:
    """The province's warnings about entities (data-gap alerts for the datasets these tests
    never upload are left out; tests/functional/test_warnings_lifecycle.py covers them)."""
    t = load_warnings(lake, month, "42")
    return t.filter(pc.not_equal(t["rule_id"], "data_gap"))


def _listing(i: int, listed_on: dt.date) -> bytes:
    row = {
        "record_id": f"SD-{i}",
        "uscc": code(i),
        "listed_on": listed_on.isoformat(),
        "reason": "提供虚假材料",
    }
    return to_csv([row]).encode()


def test_upload_raises_the_new_listing_warning_once(env: Env) -> None:
    now = dt.datetime.now(dt.UTC)
    month = month_of(now)
    today = now.astimezone(ZoneInfo("Asia/Shanghai")).date()
    [ents] = env.upload("incoming/42/entities/e.csv", _entities(5))
    assert ents["status"] == "accepted" and ents["warnings"]["status"] == "raised"
    assert ents["warnings"]["raised"] == 0 and ents["warnings"]["entities"] == 5

    [listed] = env.upload("incoming/42/serious_dishonesty_list/l.csv", _listing(3, today))
    assert listed["status"] == "accepted"
    w = listed["warnings"]
    assert (w["status"], w["month"], w["entities"]) == ("raised", month, 1)
    assert w["by_rule"] == {"new_serious_dishonesty": 1} and w["tasks"] == 1 and w["notify_error"] is None
    t = entity_warnings(env.lake, month)
    assert t.num_rows == 1
    row = t.to_pylist()[0]
    assert (row["rule_id"], row["uscc"], row["trigger"]) == ("new_serious_dishonesty", code(3), "upload")
    assert row["rule_name"] == "新列入严重违法失信名单"
    assert json.loads(row["evidence"])["reason"] == "提供虚假材料"
    assert load_tasks(env.lake, month, "42").num_rows == 1
    [msg] = env.messages()  # the dispatch hook: one SNS message per run that raised tasks
    assert (msg["type"], msg["province"], msg["count"], msg["trigger"]) == (
        "creditrisk.inspection_tasks",
        "42",
        1,
        "upload",
    )

    # S3 delivers at least once: the same event again raises nothing new.
    event = env.client.events.generate_s3_event(
        bucket=env.bucket, key="incoming/42/serious_dishonesty_list/l.csv"
    )
    [again] = env.client.lambda_.invoke("on_upload", event).payload
    assert again["status"] == "duplicate"
    assert (again["warnings"]["raised"], again["warnings"]["duplicates"]) == (0, 1)
    assert entity_warnings(env.lake, month).num_rows == 1
    assert env.messages() == []


def test_warnings_failure_does_not_fail_the_ingest(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDITRISK_WARNING_RULES", "no-such-rule-set")
    app_module.reset()
    [res] = env.upload("incoming/42/entities/e.csv", _entities(2))
    assert res["status"] == "accepted" and res["rows_accepted"] == 2
    assert res["warnings"]["status"] == "failed" and res["warnings"]["error"] == "ConfigError"
    assert env.lake.list_files(layout.curated_prefix("entities", "42"))


def test_monthly_handler_writes_classification_warnings_and_report(env: Env) -> None:
    env.upload("incoming/42/entities/e.csv", _entities(4))
    env.upload("incoming/42/serious_dishonesty_list/l.csv", _listing(1, dt.date(2026, 6, 10)))
    env.messages()
    summary: dict[str, Any] = env.client.lambda_.invoke("classify_monthly", EVENT).payload
    assert summary["month"] == "2026-06"
    info = summary["provinces"]["42"]
    assert info["status"] == "published" and "follow_up_failed" not in summary
    follow = info["follow_up"]
    assert follow["status"] == "done"
    assert env.lake.exists(layout.classification_key("2026-06", "42"))
    assert follow["report_key"] == layout.report_key("2026-06", "42")
    html = env.lake.read_bytes(follow["report_key"]).decode("utf-8")
    assert "<html" in html and "湖北" in html
    assert env.lake.exists(layout.analysis_key("2026-06", "42", "summary.json"))
    assert env.lake.exists(layout.analysis_key("2026-06", "42", "effectiveness.json"))
    t = entity_warnings(env.lake, "2026-06")
    fired = {(r["rule_id"], r["uscc"]) for r in t.to_pylist()}
    assert ("new_serious_dishonesty", code(1)) in fired
    assert follow["warnings"]["raised"] == t.num_rows and set(t["trigger"].to_pylist()) == {"monthly"}


def test_cli_ingest_runs_the_same_follow_up(tmp_path: Path) -> None:
    from functions.cli import cli

    now = dt.datetime.now(dt.UTC)
    folder = tmp_path / "up" / "incoming" / "42"
    (folder / "entities").mkdir(parents=True)
    (folder / "serious_dishonesty_list").mkdir(parents=True)
    (folder / "entities" / "e.csv").write_bytes(_entities(3))
    today = now.astimezone(ZoneInfo("Asia/Shanghai")).date()
    (folder / "serious_dishonesty_list" / "l.csv").write_bytes(_listing(2, today))
    lake_dir = tmp_path / "lake"
    get_settings.cache_clear()
    result = CliRunner().invoke(cli, ["--lake", str(lake_dir), "ingest", str(tmp_path / "up")], obj={})
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert f"warnings 42 {month_of(now)}: 1 new for 3 entities" in result.stderr
    t = entity_warnings(Lake.from_uri(str(lake_dir)), month_of(now))
    assert [(r["rule_id"], r["uscc"], r["trigger"]) for r in t.to_pylist()] == [
        ("new_serious_dishonesty", code(2), "upload")
    ]
