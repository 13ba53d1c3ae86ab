"""``creditrisk dlq redrive`` in a real subprocess against moto S3 and SQS: failed uploads are
ingested again and their messages deleted; a monthly run is left unless asked; exit statuses."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest

from functions.aws import new_session
from functions.lake import Lake
from tests.ingest_data import penalty_rows, to_csv

FIXTURES = Path(__file__).parent.parent / "fixtures"
REGION = "cn-north-1"
Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def env(moto_endpoint: str, boto3_session: boto3.Session, s3_bucket: str) -> dict[str, str]:
    s3 = boto3_session.client("s3", endpoint_url=moto_endpoint)
    landing = f"landing-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=landing, CreateBucketConfiguration={"LocationConstraint": REGION})
    sqs = boto3_session.client("sqs", endpoint_url=moto_endpoint)
    url = sqs.create_queue(QueueName=f"dlq-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    return {
        "CREDITRISK_LAKE_URI": f"s3://{s3_bucket}/lake",
        "CREDITRISK_LANDING_URI": f"s3://{landing}",
        "CREDITRISK_AWS_ENDPOINT_URL": moto_endpoint,
        "CREDITRISK_REGION": REGION,
        "CREDITRISK_DLQ_URL": url,
        "LANDING": landing,
    }


def _send(env: dict[str, str], body: str) -> None:
    sqs = new_session(region_name=REGION).client("sqs", endpoint_url=env["CREDITRISK_AWS_ENDPOINT_URL"])
    sqs.send_message(QueueUrl=env["CREDITRISK_DLQ_URL"], MessageBody=body)


def _upload_event(env: dict[str, str], key: str) -> str:
    event = json.loads((FIXTURES / "eventbridge-object-created.json").read_text())
    event["detail"]["bucket"]["name"] = env["LANDING"]
    event["detail"]["object"]["key"] = key
    return json.dumps(event)


def _lake(env: dict[str, str]) -> Lake:
    return Lake.from_uri(
        env["CREDITRISK_LAKE_URI"],
        region=REGION,
        endpoint_url=env["CREDITRISK_AWS_ENDPOINT_URL"],
        boto3_session=new_session(region_name=REGION),
    )


def test_redrive_ingests_failed_uploads_once_and_exits_by_what_is_left(
    env: dict[str, str], run_cli: Run
) -> None:
    s3 = new_session(region_name=REGION).client("s3", endpoint_url=env["CREDITRISK_AWS_ENDPOINT_URL"])
    key = "incoming/42/penalties/2026-10.csv"
    s3.put_object(Bucket=env["LANDING"], Key=key, Body=to_csv(penalty_rows(20)).encode())
    _send(env, _upload_event(env, key))
    _send(env, _upload_event(env, key))  # Lambda may dead-letter the same upload twice
    _send(env, _upload_event(env, "incoming/42/penalties/deleted-since.csv"))
    _send(env, (FIXTURES / "scheduled_classify_event.json").read_text())

    code, out, err = run_cli("dlq", "redrive", "--dry-run", env=env)
    assert code == 1, err  # the monthly run would stay
    assert out.count("would_redrive") == 3 and "left" in out and "--month 2026-06" in out
    assert _lake(env).list_files("curated") == []  # a dry run changes nothing

    code, out, err = run_cli("dlq", "redrive", env=env)
    assert code == 1, err
    lines = out.splitlines()
    assert sum("2026-10.csv: accepted" in x for x in lines) == 1
    assert sum("2026-10.csv: duplicate" in x for x in lines) == 1  # idempotent: written once
    assert any("deleted-since.csv: missing" in x for x in lines)
    assert "3 redriven, 0 would redrive, 0 failed, 1 left" in err
    assert len(_lake(env).list_files("curated")) == 1

    code, out, err = run_cli("dlq", "redrive", "--dry-run", env=env)  # only the monthly run is left
    assert code == 1 and out.count("\n") == 1 and "monthly run 2026-06" in out


def test_redrive_of_an_empty_queue_exits_0_and_without_a_queue_2(env: dict[str, str], run_cli: Run) -> None:
    code, _, err = run_cli("dlq", "redrive", env=env)
    assert (code, err.strip()) == (0, "0 redriven, 0 would redrive, 0 failed, 0 left")
    code, _, err = run_cli("dlq", "redrive", env={**env, "CREDITRISK_DLQ_URL": ""})
    assert code == 2 and "CREDITRISK_DLQ_URL" in err
