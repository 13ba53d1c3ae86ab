"""Dedup across runs, upload scoping, as-of cutoffs, tasks and notifications (SNS on moto)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import boto3
import pyarrow.compute as pc
import pytest

from functions import layout
from functions.errors import ConfigError, InvalidInput
from functions.lake import Lake
from functions.settings import Settings
from functions.warnings import run_warnings
from functions.warnings.notify import LocalFileNotifier, SnsNotifier, TaskBatch
from functions.warnings.store import load_tasks, load_warnings
from tests.unit.test_warnings_rules import NOW, M, P, build
from tests.warnings_data import code, write_curated


class Recorder:
    def __init__(self) -> None:
        self.batches: list[TaskBatch] = []

    def notify(self, batch: TaskBatch) -> None:
        self.batches.append(batch)


class Broken:
    def notify(self, batch: TaskBatch) -> None:
        raise RuntimeError("topic gone")


@pytest.fixture
def lake(local_lake: Lake) -> Lake:
    build(local_lake)
    return local_lake


def test_rerun_and_upload_never_raise_a_warning_twice(lake: Lake, local_settings: Settings) -> None:
    rec = Recorder()
    first = run_warnings(
        lake, month=M, province=P, trigger="monthly", now=NOW, settings=local_settings, notifier=rec
    )
    again = run_warnings(
        lake, month=M, province=P, trigger="monthly", now=NOW, settings=local_settings, notifier=rec
    )
    assert first.raised > 10 and again.raised == 0 and again.duplicates == first.candidates
    assert again.warnings_key is None and again.tasks_key is None
    up = run_warnings(
        lake,
        month=M,
        province=P,
        trigger="upload",
        uscc_filter=[code(40)],
        now=NOW,
        settings=local_settings,
        notifier=rec,
    )
    assert up.raised == 0 and up.duplicates >= 1
    t = load_warnings(lake, M, P)
    assert t.num_rows == first.raised == len(set(t["warning_key"].to_pylist()))
    assert len(rec.batches) == 1  # only the first run raised tasks


def test_upload_scope_raises_only_for_touched_entities(lake: Lake, local_settings: Settings) -> None:
    res = run_warnings(
        lake,
        month=M,
        province=P,
        trigger="upload",
        uscc_filter=[code(3), code(40)],
        now=NOW,
        settings=local_settings,
        notifier=Recorder(),
    )
    t = load_warnings(lake, M, P)
    assert set(t["uscc"].to_pylist()) == {code(3), code(40)}
    assert set(res.by_rule) == {"cluster_address", "new_serious_dishonesty"}  # code(3) founded 2026
    assert {r["trigger"] for r in t.to_pylist()} == {"upload"}
    nothing = run_warnings(
        lake, month=M, province=P, trigger="upload", uscc_filter=[], now=NOW, settings=local_settings
    )
    assert nothing.candidates == 0


def _ingest_removal_later(lake: Lake) -> dt.datetime:
    """A correction of entity 40's listing (removed on 10-15), ingested after NOW; returns its time."""
    later = dt.datetime(2026, 11, 5, tzinfo=dt.UTC)
    write_curated(
        lake,
        "serious_dishonesty_list",
        P,
        [
            {
                "record_id": "s40",
                "uscc": code(40),
                "listed_on": dt.date(2026, 10, 12),
                "reason": "x",
                "removed_on": dt.date(2026, 10, 15),
            },
        ],
        ingest_id="ing-2",
        ingested_at=later,
    )
    return later


def test_as_of_cutoff_latest_ingest_wins(lake: Lake, local_settings: Settings) -> None:
    _ingest_removal_later(lake)
    before = run_warnings(
        lake,
        month=M,
        province=P,
        trigger="manual",
        rules=["new_serious_dishonesty"],
        now=NOW,
        settings=local_settings,
        notifier=Recorder(),
    )
    assert before.raised == 1
    w = load_warnings(lake, M, P, rule="new_serious_dishonesty").to_pylist()[0]
    assert w["rule"] == "new_serious_dishonesty@1" and w["severity"] == "critical"
    assert json.loads(w["evidence"]) == {
        "listed_on": "2026-10-12",
        "reason": "提供虚假材料",
        "record_id": "s40",
    }


def test_as_of_cutoff_sees_the_removal_after_it_was_ingested(lake: Lake, local_settings: Settings) -> None:
    later = _ingest_removal_later(lake)
    after = run_warnings(
        lake,
        month=M,
        province=P,
        trigger="manual",
        rules=["new_serious_dishonesty"],
        now=later + dt.timedelta(days=1),
        settings=local_settings,
        notifier=Recorder(),
    )
    assert after.raised == 0


def test_tasks_follow_per_rule_thresholds(lake: Lake, local_settings: Settings) -> None:
    rec = Recorder()
    res = run_warnings(
        lake, month=M, province=P, trigger="monthly", now=NOW, settings=local_settings, notifier=rec
    )
    tasks = load_tasks(lake, M, P)
    warnings = load_warnings(lake, M, P)
    dispatched = warnings.filter(pc.equal(warnings["dispatched"], True))
    # One task per entity and month, every dispatched warning of the entity among its reasons.
    by_entity: dict[str, set[str]] = {}
    for w in dispatched.to_pylist():
        by_entity.setdefault(w["uscc"], set()).add(w["warning_key"])
    assert tasks.num_rows == res.tasks == len(by_entity) > 0
    assert len(set(tasks["uscc"].to_pylist())) == tasks.num_rows
    for t in tasks.to_pylist():
        assert {r["warning_key"] for r in t["reasons"]} == by_entity[t["uscc"]]
    assert set(tasks["severity"].to_pylist()) <= {"high", "critical"}
    rules = {r["rule"] for t in tasks.to_pylist() for r in t["reasons"]}
    assert "annual_report_overdue@1" not in rules  # dispatch_at: never
    assert rec.batches[0].tasks_key == res.tasks_key == layout.tasks_key(M, P, res.run_id)
    assert rec.batches[0].count == res.tasks


def test_failed_notification_keeps_the_tasks(lake: Lake, local_settings: Settings) -> None:
    res = run_warnings(
        lake, month=M, province=P, trigger="monthly", now=NOW, settings=local_settings, notifier=Broken()
    )
    assert not res.notified and res.notify_error and "topic gone" in res.notify_error
    assert load_tasks(lake, M, P).num_rows == res.tasks > 0


def test_bad_input(lake: Lake, local_settings: Settings) -> None:
    with pytest.raises(InvalidInput, match="month"):
        run_warnings(lake, month="2026-13", province=P, trigger="monthly", now=NOW, settings=local_settings)
    with pytest.raises(InvalidInput, match="trigger"):
        run_warnings(lake, month=M, province=P, trigger="cron", now=NOW, settings=local_settings)
    with pytest.raises(ConfigError, match="no rule"):
        run_warnings(
            lake, month=M, province=P, trigger="manual", rules=["nope"], now=NOW, settings=local_settings
        )


def test_sns_notifier_on_moto(moto_endpoint: str, boto3_session: boto3.Session) -> None:
    sns = boto3_session.client("sns", endpoint_url=moto_endpoint)
    sqs = boto3_session.client("sqs", endpoint_url=moto_endpoint)
    topic = sns.create_topic(Name="creditrisk-tasks")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="tasks-q")["QueueUrl"]
    sqs_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=sqs_arn, Attributes={"RawMessageDelivery": "true"})
    batch = TaskBatch(M, P, "w1", "monthly", "results/tasks/x.parquet", 3, {"r@1": 3}, {"high": 3})
    SnsNotifier(sns, topic).notify(batch)
    msgs: list[dict[str, Any]] = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get(
        "Messages", []
    )
    assert len(msgs) == 1
    body = json.loads(msgs[0]["Body"])
    assert body["count"] == 3 and body["province"] == P and body["tasks_key"] == "results/tasks/x.parquet"


def test_local_file_notifier(tmp_path: Path) -> None:
    n = LocalFileNotifier(tmp_path / "n" / "tasks.jsonl")
    n.notify(TaskBatch(M, P, "w1", "upload", "k", 1))
    n.notify(TaskBatch(M, P, "w2", "upload", "k2", 2))
    lines = (tmp_path / "n" / "tasks.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["run_id"] for x in lines] == ["w1", "w2"]


def test_same_warnings_on_an_s3_lake(s3_lake: Lake, s3_settings: Settings, local_lake: Lake) -> None:
    got = {}
    for lake, settings in ((s3_lake, s3_settings), (local_lake, Settings(lake_uri=local_lake.uri))):
        build(lake)
        run_warnings(
            lake, month=M, province=P, trigger="monthly", now=NOW, settings=settings, notifier=Recorder()
        )
        t = load_warnings(lake, M, P)
        got[lake.uri] = sorted(zip(t["warning_key"].to_pylist(), t["evidence"].to_pylist(), strict=True))
    a, b = got.values()
    assert a == b and len(a) > 10


def test_month_of_uses_the_regulators_time_zone() -> None:
    from functions.months import month_of

    assert month_of(dt.datetime(2026, 10, 31, 17, 0, tzinfo=dt.UTC)) == "2026-11"  # 01:00 in Beijing
    assert month_of(dt.datetime(2026, 10, 31, 15, 59, tzinfo=dt.UTC)) == "2026-10"
