"""An upheld decision made through the API starts its correction run (issue 14, docs/adr/0144):
the API queues the objection's id on SQS (moto), the ``corrections`` handler gets the message in
the recorded SQS event's shape and runs the real correction run on a folder lake; a duplicate
delivery changes nothing; a failed run shows ``failed`` and ends in the dead-letter queue."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from chalice.test import Client

import app as app_module
from functions import layout
from functions.auth import tokens
from functions.classify.run import classify_month
from functions.lake import Lake
from functions.objections.overdue import RULE_ID, sync_overdue_warnings
from functions.settings import Settings
from functions.warnings import store
from infra import package
from schemas.objections import ObjectionOut
from tests.classify_data import code, entity, write_curated

MONTH = "2026-06"
CUT = dt.datetime(2026, 7, 5, tzinfo=dt.UTC)
FIXTURE = Path(__file__).parent.parent / "fixtures" / "events" / "sqs_objection_follow_up.json"


@dataclass
class Env:
    client: Client
    token: str
    lake: Lake
    sqs: Any
    queue: str
    dlq: str

    def post(self, path: str, body: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        return self.client.http.post(path, headers=headers, body=json.dumps(body))

    def get(self, path: str) -> Any:
        return self.client.http.get(path, headers={"Authorization": f"Bearer {self.token}"})

    def receive(self) -> dict[str, Any]:
        """The next message, as the recorded SQS event Lambda would get it."""
        got = self.sqs.receive_message(QueueUrl=self.queue, AttributeNames=["All"], VisibilityTimeout=0)
        (msg,) = got["Messages"]
        event: dict[str, Any] = json.loads(FIXTURE.read_text())
        record = event["Records"][0]
        record.update(messageId=msg["MessageId"], body=msg["Body"], receiptHandle=msg["ReceiptHandle"])
        record["attributes"]["ApproximateReceiveCount"] = msg["Attributes"]["ApproximateReceiveCount"]
        return event


@pytest.fixture
def env(
    monkeypatch: pytest.MonkeyPatch,
    local_settings: Settings,
    local_lake: Lake,
    moto_endpoint: str,
    boto3_session: boto3.Session,
) -> Iterator[Env]:
    write_curated(local_lake, "entities", [entity(1), entity(2)])
    classify_month(local_lake, month=MONTH, province="13", cutoff=CUT, settings=local_settings, fields=())
    sqs = boto3_session.client("sqs", endpoint_url=moto_endpoint)
    name = f"corrections-{uuid.uuid4().hex[:8]}"
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": package.CORRECTION_MAX_RECEIVES}
    queue = sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": json.dumps(redrive)})["QueueUrl"]
    for k, v in {
        "CREDITRISK_LAKE_URI": local_settings.lake_uri,
        "CREDITRISK_CORRECTION_QUEUE_URL": queue,
        "CREDITRISK_AWS_ENDPOINT_URL": moto_endpoint,
        "CREDITRISK_FIELD_SYSTEMS": "[]",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(k, v)
    app_module.reset()
    token, _ = tokens.issue_token(local_lake, name="hebei-platform", provinces=["13"])
    with Client(app_module.app) as client:
        yield Env(client, token, local_lake, sqs, queue, dlq)
    app_module.reset()


def _decided_upheld(env: Env, n: int) -> ObjectionOut:
    body = {"uscc": code(n), "month": MONTH, "received_on": "2026-07-06", "reasons": ["R1"]}
    r = env.post("/v1/objections", body)
    assert r.status_code == 201, r.body
    oid = ObjectionOut.model_validate_json(r.body).objection_id
    sync_overdue_warnings(env.lake, "13", now=dt.datetime.now(dt.UTC))  # overdue since 13 July
    for step in ({"step": "accepted"}, {"step": "checked"}):
        assert env.post(f"/v1/objections/{oid}/steps", step).status_code == 200
    fix = {"kind": "record", "dataset": "penalties", "record_id": "PEN-1", "note": "已撤销的处罚"}
    r = env.post(f"/v1/objections/{oid}/steps", {"step": "decided", "outcome": "upheld", "correction": fix})
    assert r.status_code == 202, r.body
    return ObjectionOut.model_validate_json(r.body)


def test_an_upheld_decision_runs_its_correction_once(env: Env) -> None:
    first_run = env.lake.read_json(layout.classification_pointer_key(MONTH, "13"))["run_id"]
    decided = _decided_upheld(env, 1)
    assert (decided.correction_status, decided.correction_run_id) == ("queued", None)
    event = env.receive()
    assert json.loads(event["Records"][0]["body"]) == {"v": 1, "objection_id": decided.objection_id}
    (done,) = env.client.lambda_.invoke("corrections", event).payload
    assert done["correction"] == "ran" and done["warnings"] == {"raised": 0, "resolved": 1}
    got = ObjectionOut.model_validate_json(env.get(f"/v1/objections/{decided.objection_id}").body)
    assert (got.correction_status, got.correction_run_id) == ("done", done["run_id"])
    pointer = env.lake.read_json(layout.classification_pointer_key(MONTH, "13"))
    assert pointer["run_id"] == done["run_id"] and pointer["supersedes"] == first_run
    assert pointer["correction"] == {"objection_id": decided.objection_id, "uscc": code(1)}
    history = store.history(env.lake, MONTH, "13").to_pylist()
    resolved = [h for h in history if h["rule_id"] == RULE_ID and h["state"] == "resolved"]
    assert [(h["state_by"], h["state_trigger"]) for h in resolved] == [("hebei-platform", "decision")]
    # at least once: the same message again starts no second run and writes nothing
    runs = env.lake.list_dirs("results/runs")
    (again,) = env.client.lambda_.invoke("corrections", env.receive()).payload
    assert again["correction"] == "done"
    assert env.lake.list_dirs("results/runs") == runs
    assert env.lake.read_json(layout.classification_pointer_key(MONTH, "13")) == pointer


def test_a_failed_run_shows_failed_and_ends_in_the_dead_letter_queue(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    decided = _decided_upheld(env, 2)
    monkeypatch.setenv("CREDITRISK_FIELD_SYSTEMS", '["no-such-field"]')  # the run cannot start
    app_module.reset()
    published = env.lake.read_json(layout.classification_pointer_key(MONTH, "13"))
    for _ in range(package.CORRECTION_MAX_RECEIVES):
        with pytest.raises(Exception):  # noqa: B017 - whatever broke, Lambda must see it fail
            env.client.lambda_.invoke("corrections", env.receive())
    got = ObjectionOut.model_validate_json(env.get(f"/v1/objections/{decided.objection_id}").body)
    assert (got.correction_status, got.correction_run_id) == ("failed", None)
    attempts = [e.attempt for e in got.trail if e.step == "correction_failed"]
    assert attempts == list(range(1, package.CORRECTION_MAX_RECEIVES + 1))
    assert env.lake.read_json(layout.classification_pointer_key(MONTH, "13")) == published
    assert "Messages" not in env.sqs.receive_message(QueueUrl=env.queue, VisibilityTimeout=0)
    kept = env.sqs.receive_message(QueueUrl=env.dlq)["Messages"]
    assert [json.loads(m["Body"])["objection_id"] for m in kept] == [decided.objection_id]
