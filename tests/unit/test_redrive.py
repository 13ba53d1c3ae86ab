"""The dead-letter re-drive (issue 12 "Re-running safely"): what each recorded event asks to
redo, and that a message is deleted only after its work succeeded (moto SQS)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from functions.redrive import Actions, Monthly, Queue, Unknown, Upload, parse, redrive

FIXTURES = Path(__file__).parent.parent / "fixtures"
TZ = "Asia/Shanghai"


def _body(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_eventbridge_upload_is_the_key_decoded_then_as_given() -> None:
    event = json.loads(_body("eventbridge-object-created.json"))
    encoded = "incoming/42/penalties/2026-10%E5%A4%84%E7%BD%9A+1.csv"
    event["detail"]["object"]["key"] = encoded
    assert parse(json.dumps(event), tz=TZ) == [
        Upload(
            ("incoming/42/penalties/2026-10处罚 1.csv", encoded),
            etag="",
            version_id="IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
        )
    ]


def test_s3_notification_records_are_uploads() -> None:
    body = _body("events/s3_put_penalties_encoded.json").replace("BUCKET", "landing")
    [upload] = parse(body, tz=TZ)  # type: ignore[misc]
    assert upload.candidates == ("incoming/42/penalties/2026-10处罚 第1批.csv",)


def test_scheduled_event_is_the_month_it_classified() -> None:
    # fired 2026-06-30T18:00Z = 2026-07-01 02:00 in China: the run was for June
    assert parse(_body("scheduled_classify_event.json"), tz=TZ) == Monthly("2026-06")


@pytest.mark.parametrize(
    ("body", "reason"),
    [("not json", "not JSON"), ("[1]", "not a JSON object"), ('{"source": "aws.sns"}', "'aws.sns'")],
)
def test_anything_else_is_unknown(body: str, reason: str) -> None:
    work = parse(body, tz=TZ)
    assert isinstance(work, Unknown) and reason in work.reason


@pytest.fixture
def queue(moto_endpoint: str, boto3_session: boto3.Session) -> Queue:
    sqs = boto3_session.client("sqs", endpoint_url=moto_endpoint)
    url = sqs.create_queue(QueueName=f"dlq-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    return Queue(sqs, url, visibility_seconds=60)


def _send(queue: Queue, body: str, error: str = "Task timed out") -> str:
    sent = queue.sqs.send_message(
        QueueUrl=queue.url,
        MessageBody=body,
        MessageAttributes={
            "RequestID": {"DataType": "String", "StringValue": str(uuid.uuid4())},
            "ErrorCode": {"DataType": "String", "StringValue": "200"},
            "ErrorMessage": {"DataType": "String", "StringValue": error},
        },
    )
    message_id: str = sent["MessageId"]
    return message_id


def _upload_body(key: str) -> str:
    event = json.loads(_body("eventbridge-object-created.json"))
    event["detail"]["object"]["key"] = key
    return json.dumps(event)


def _remaining(queue: Queue) -> int:
    attrs = queue.sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def test_only_successful_redrives_are_deleted(queue: Queue) -> None:
    good = _send(queue, _upload_body("incoming/42/penalties/good.csv"))
    bad = _send(queue, _upload_body("incoming/42/penalties/bad.csv"))
    monthly = _send(queue, _body("scheduled_classify_event.json"))
    junk = _send(queue, "garbage")
    done: list[str] = []

    def ingest(upload: Upload) -> str:
        if "bad" in upload.candidates[0]:
            raise OSError("AWS Error ACCESS_DENIED during HeadObject operation")
        done.append(upload.candidates[0])
        return "accepted"

    results = {r.message_id: r for r in redrive(queue, Actions(ingest=ingest), tz=TZ)}
    assert {m: r.outcome for m, r in results.items()} == {
        good: "redriven",
        bad: "failed",
        monthly: "left",
        junk: "left",
    }
    assert done == ["incoming/42/penalties/good.csv"]
    assert "ACCESS_DENIED" in results[bad].detail
    assert "creditrisk classify --month 2026-06 --follow-ups" in results[monthly].detail
    assert _remaining(queue) == 3  # the good one only was deleted
    assert len(queue.receive()) == 3  # and the others are visible again for the next attempt


def test_dry_run_changes_nothing_and_leaves_messages_visible(queue: Queue) -> None:
    ids = {_send(queue, _upload_body(f"incoming/42/penalties/{n}.csv")) for n in range(12)}  # > one batch
    called: list[Any] = []
    results = redrive(queue, Actions(ingest=called.append), tz=TZ, dry_run=True)
    assert {r.message_id for r in results} == ids and {r.outcome for r in results} == {"would_redrive"}
    assert results[0].detail == "Task timed out"  # Lambda's ErrorMessage attribute, shown
    assert called == []
    assert len(queue.receive()) == 10  # visible again at once


def test_monthly_runs_when_asked_and_stays_when_it_fails_again(queue: Queue) -> None:
    _send(queue, _body("scheduled_classify_event.json"))
    months: list[str] = []

    def failing(work: Monthly) -> str:
        months.append(work.month)
        raise RuntimeError("province 42 failed again")

    [result] = redrive(queue, Actions(ingest=str, monthly=failing), tz=TZ)
    assert (result.outcome, months) == ("failed", ["2026-06"])
    assert _remaining(queue) == 1
