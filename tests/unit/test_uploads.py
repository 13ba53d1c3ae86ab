"""The public view, the listing's paging and size bound, and the notification adapters
(functions/uploads, issue 13)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from functions.errors import InvalidInput
from functions.ingest.personal_data import MASK
from functions.lake import Lake
from functions.settings import Settings
from functions.uploads.notify import (
    EventBridgePublisher,
    LocalFilePublisher,
    NoopPublisher,
    notify_outcome,
    publisher_from_settings,
)
from functions.uploads.query import Cursor, Position, decode_cursor, encode_cursor, list_uploads
from functions.uploads.view import event_detail, outcome, public_view
from infra.uploads_notify import event_pattern
from schemas.ingest import IngestReport, RowError
from schemas.uploads import EVENT_DETAIL_TYPE, EVENT_SOURCE, UploadOut, UploadsPage, UploadsQuery
from tests.ingest_data import resident_id
from tests.uploads_data import ingest_examples

RID = resident_id()


def report(**kw: Any) -> IngestReport:
    base: dict[str, Any] = {
        "ingest_id": "0123456789abcdef0123",
        "source_key": "incoming/42/penalties/x.csv",
        "province": "42",
        "dataset": "penalties",
        "size": 10,
        "sha256": "0" * 64,
        "status": "accepted",
        "ingested_at": "2026-11-02T03:00:00Z",
        "archive_key": "archive/42/penalties/0123456789abcdef0123/x.csv",
        "curated_key": "curated/penalties/province=42/ingest=0123456789abcdef0123/part-0.parquet",
        "quarantine_key": "quarantine/42/penalties/0123456789abcdef0123/rejected.jsonl",
        "report_key": "reports/ingest/42/penalties/0123456789abcdef0123.json",
        "timings": {"read": 0.1},
    }
    return IngestReport(**{**base, **kw})


def test_outcomes() -> None:
    assert outcome(report(rows_read=3, rows_accepted=3)) == "accepted"
    assert outcome(report(rows_read=3, rows_accepted=2, rows_rejected=1)) == "partial"
    rejected = report(status="rejected_file", file_reason="bad_encoding", rows_read=3, rows_rejected=3)
    assert outcome(rejected) == "rejected"
    # a re-delivery's answer says duplicate; the outcome is still that of the first delivery
    assert outcome(rejected.model_copy(update={"status": "duplicate"})) == "rejected"
    assert event_detail(rejected.model_copy(update={"status": "duplicate"})).duplicate is True
    assert event_detail(rejected).duplicate is False


def test_public_view_leaves_internal_keys_out_and_masks_identity_numbers() -> None:
    r = report(
        rows_read=2,
        rows_accepted=1,
        rows_rejected=1,
        reasons={"personal_data": 1},
        errors=[RowError(line=3, column=f"备注{RID}", code="personal_data", message=f"value {RID}")],
        header_mapping={f"处罚机关{RID}": "authority"},
        ignored_columns=[f"经办人{RID}"],
        file_message=f"cannot parse line 3: {RID}",
    )
    view = public_view(r)
    text = view.model_dump_json()
    assert RID not in text and RID[:17] not in text and text.count(MASK) == 5
    assert set(view.model_dump()) == set(UploadOut.model_fields)
    for internal in (
        "archive_key",
        "curated_key",
        "quarantine_key",
        "report_key",
        "timings",
        "curated_sha256",
    ):
        assert internal not in view.model_dump()
    assert (view.errors[0].line, view.errors[0].code) == (3, "personal_data")
    assert view.header_mapping == {f"处罚机关{MASK}": "authority"}


def test_cursor_round_trip_and_refusals() -> None:
    pos = Position(1_700_000_000, "reports/ingest/42/penalties/0123456789abcdef0123.json")
    cur = Cursor(pos, frozenset({"0123456789abcdef0123", "ffffffffffffffffffff"}))
    text = encode_cursor("42", cur)
    assert decode_cursor(text, "42") == cur
    with pytest.raises(InvalidInput, match="another province"):
        decode_cursor(text, "23")
    for bad in ("x", "%%%", text[:-3], "W10", encode_cursor("42", cur).replace("A", "*")):
        with pytest.raises(InvalidInput) as err:
            decode_cursor(bad, "42")
        assert err.value.field == "cursor"


def test_a_cursor_still_finds_reports_that_show_up_late_in_its_last_seconds() -> None:
    """S3 times have one-second precision: a report of the cursor's last second that sorts
    before it, or one of the second before that appeared after the listing, is still to come."""
    last = Position(100, "reports/ingest/42/penalties/bbbbbbbbbbbbbbbbbbbb.json")
    cur = Cursor(last, frozenset({"bbbbbbbbbbbbbbbbbbbb", "aaaaaaaaaaaaaaaaaaaa"}))
    key = "reports/ingest/42/penalties/{}.json"
    assert cur.is_new(Position(100, key.format("cccccccccccccccccccc")))  # sorts after
    assert cur.is_new(Position(100, key.format("0000000000aaaaaaaaaa")))  # same second, sorts before
    assert cur.is_new(Position(99, key.format("0000000000aaaaaaaaaa")))  # late in the lag
    assert not cur.is_new(Position(99, key.format("aaaaaaaaaaaaaaaaaaaa")))  # handed out already
    assert not cur.is_new(last)
    assert not cur.is_new(Position(90, key.format("0000000000aaaaaaaaaa")))  # long before


def test_reports_of_the_same_second_in_any_key_order_are_each_handed_out_once(local_lake: Lake) -> None:
    """Reports written within one second, the later one sorting first: paging one at a time and
    polling after each write hands out each exactly once."""
    import os

    def write(rid: str) -> None:
        key = f"reports/ingest/42/penalties/{rid}.json"
        local_lake.write_json(key, report(ingest_id=rid).model_dump())
        os.utime(local_lake.path(key), ns=(1_800_000_000 * 10**9, 1_800_000_000 * 10**9))

    def poll(cursor: str | None) -> UploadsPage:
        q = UploadsQuery(province="42", cursor=cursor, limit=1)
        return UploadsPage.model_validate_json(list_uploads(local_lake, q, max_bytes=5 * 2**20))

    handed: list[str] = []
    cursor = None
    for rid in ("9" * 20, "5" * 20, "1" * 20):  # each later upload sorts before the earlier ones
        write(rid)
        page = poll(cursor)
        while True:
            handed += [u.ingest_id for u in page.uploads]
            cursor = page.next_cursor
            if not page.has_more:
                break
            page = poll(cursor)
    assert handed == ["9" * 20, "5" * 20, "1" * 20], handed
    assert poll(cursor).uploads == []


def test_since_is_normalised_to_utc() -> None:
    assert UploadsQuery(province="42", since="2026-11-02T11:30:00+08:00").since == "2026-11-02T03:30:00Z"
    assert UploadsQuery(province="42", since="2026-11-02").since == "2026-11-02T00:00:00Z"


def test_pages_stay_within_the_answer_budget_and_lose_nothing(
    local_lake: Lake, local_settings: Settings
) -> None:
    """Reports with 100 errors each: a small budget cuts pages short, the cursor still walks all."""
    ingest_examples(local_lake, local_settings)
    big = report(
        rows_read=200,
        rows_accepted=100,
        rows_rejected=100,
        errors=[
            RowError(line=i, column="kind", code="bad_enum", message="not a known kind " * 5)
            for i in range(100)
        ],
    )
    for i in range(6):
        rid = f"{i:020x}"
        local_lake.write_json(
            f"reports/ingest/42/penalties/{rid}.json", big.model_copy(update={"ingest_id": rid}).model_dump()
        )
    budget = 30_000
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    for pages in range(1, 21):  # noqa: B007
        text = list_uploads(
            local_lake, UploadsQuery(province="42", cursor=cursor, limit=200), max_bytes=budget
        )
        assert len(json.dumps(text)) <= budget
        page = UploadsPage.model_validate_json(text)
        seen += [u.ingest_id for u in page.uploads]
        cursor = page.next_cursor
        if not page.has_more:
            break
    assert len(seen) == len(set(seen)) == 9  # 3 examples of 42 + 6 big ones, none twice, none lost
    assert pages >= 3  # the budget, not the limit of 200, cut the pages


class FakePublisher:
    def __init__(self, fail: bool = False) -> None:
        self.events: list[Any] = []
        self.fail = fail

    def publish(self, event: Any) -> None:
        if self.fail:
            raise ConnectionError("unreachable")
        self.events.append(event)


def test_notify_announces_every_outcome_and_never_raises(local_lake: Lake, local_settings: Settings) -> None:
    reports = ingest_examples(local_lake, local_settings)
    fake = FakePublisher()
    for r in reports.values():
        assert notify_outcome(r, fake) == {"status": "sent"}
    assert [(e.province, e.outcome) for e in fake.events] == [
        ("42", "accepted"),
        ("42", "partial"),
        ("42", "rejected"),
        ("23", "accepted"),
    ]
    assert RID not in "".join(e.model_dump_json() for e in fake.events)
    assert notify_outcome(reports["partial"], FakePublisher(fail=True)) == {
        "status": "failed",
        "error": "ConnectionError",
    }
    assert notify_outcome(report(province="invalid"), fake)["status"] == "skipped"


def test_local_file_publisher_writes_what_eventbridge_would_deliver(
    tmp_path: Path, local_lake: Lake, local_settings: Settings
) -> None:
    reports = ingest_examples(local_lake, local_settings)
    out = tmp_path / "events.jsonl"
    pub = publisher_from_settings(local_settings.model_copy(update={"upload_events_file": str(out)}))
    assert isinstance(pub, LocalFilePublisher)
    notify_outcome(reports["rejected"], pub)
    line = json.loads(out.read_text(encoding="utf-8"))
    assert line["source"] == EVENT_SOURCE and line["detail-type"] == EVENT_DETAIL_TYPE
    assert line["detail"]["outcome"] == "rejected" and line["detail"]["file_reason"] == "missing_column"
    assert line["detail"]["duplicate"] is False and line["detail"]["errors_in_api"] is False
    assert isinstance(publisher_from_settings(local_settings), NoopPublisher)


def test_eventbridge_rules_deliver_each_province_its_own_outcomes(
    moto_endpoint: str, boto3_session: boto3.Session, local_lake: Lake, local_settings: Settings
) -> None:
    """The publisher on a (moto) EventBridge bus with the deployed rules' patterns, each rule
    targeting a province queue: 42's queue gets 42's three outcomes, 23's gets its one."""
    events = boto3_session.client("events", endpoint_url=moto_endpoint)
    sqs = boto3_session.client("sqs", endpoint_url=moto_endpoint)
    bus = f"bus-{uuid.uuid4().hex[:8]}"
    events.create_event_bus(Name=bus)
    queues = {}
    for province in ("42", "23"):
        url = sqs.create_queue(QueueName=f"q{province}-{bus}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(
            Name=f"uploads-{province}", EventBusName=bus, EventPattern=json.dumps(event_pattern(province))
        )
        events.put_targets(Rule=f"uploads-{province}", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
        queues[province] = url
    settings = local_settings.model_copy(
        update={"upload_events_bus": bus, "aws_endpoint_url": moto_endpoint, "region": "cn-north-1"}
    )
    publisher = publisher_from_settings(settings, boto3_session=boto3_session)
    assert isinstance(publisher, EventBridgePublisher)
    reports = ingest_examples(local_lake, local_settings)
    for r in reports.values():
        assert notify_outcome(r, publisher) == {"status": "sent"}

    def received(url: str) -> list[dict[str, Any]]:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        return [json.loads(m["Body"]) for m in got.get("Messages", [])]

    in42 = received(queues["42"])
    assert sorted(m["detail"]["outcome"] for m in in42) == ["accepted", "partial", "rejected"]
    assert {m["detail"]["province"] for m in in42} == {"42"} and {m["source"] for m in in42} == {EVENT_SOURCE}
    in23 = received(queues["23"])
    assert [m["detail"]["ingest_id"] for m in in23] == [reports["other"].ingest_id]


def test_masking_is_the_quarantine_masking() -> None:
    from functions.ingest import personal_data
    from functions.uploads import masking

    assert (masking.ID_PATTERN, masking.MASK) == (personal_data.ID_PATTERN, personal_data.MASK)
    text = f"a{RID}b {RID[:17]}0 12345"
    assert masking.mask_text(text) == personal_data.mask_text(text)


def test_uploads_routes_import_no_engines(local_lake: Lake, local_settings: Settings) -> None:
    """Cold start (ADR 0044): the uploads routes never import pandas, duckdb, awswrangler, sqlglot
    or the ingest pipeline."""
    import subprocess
    import sys
    import textwrap

    from functions.auth.tokens import issue_token

    reports = ingest_examples(local_lake, local_settings)
    token, _ = issue_token(local_lake, name="t", provinces=["42"])
    root = Path(__file__).resolve().parents[2]
    script = textwrap.dedent(
        f"""
        import json, os, sys
        os.environ["CREDITRISK_LAKE_URI"] = {local_lake.uri!r}
        sys.path.insert(0, {str(root)!r})
        import app
        from chalice.test import Client
        with Client(app.app) as c:
            h = {{"Authorization": "Bearer {token}"}}
            a = c.http.get("/v1/uploads?province=42", headers=h).status_code
            b = c.http.get("/v1/uploads/{reports["partial"].ingest_id}", headers=h).status_code
        heavy = ("pandas", "duckdb", "awswrangler", "sqlglot", "functions.ingest")
        print(json.dumps({{"status": [a, b], "loaded": sorted(m for m in heavy if m in sys.modules)}}))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"status": [200, 200], "loaded": []}


def test_list_and_find_on_a_folder_and_on_s3(any_lake: Lake, tmp_path: Path) -> None:
    """The same listing and lookup on both lake kinds (S3: moto over HTTP, as pyarrow talks)."""
    from functions.errors import NotFound
    from functions.uploads.query import find_upload
    from schemas.uploads import UploadQuery

    reports = ingest_examples(any_lake, Settings(lake_uri=str(tmp_path / "unused")))
    page = UploadsPage.model_validate_json(
        list_uploads(any_lake, UploadsQuery(province="42", limit=2), max_bytes=5 * 2**20)
    )
    assert len(page.uploads) == 2 and page.has_more
    rest = UploadsPage.model_validate_json(
        list_uploads(any_lake, UploadsQuery(province="42", cursor=page.next_cursor), max_bytes=5 * 2**20)
    )
    assert len(rest.uploads) == 1 and not rest.has_more
    # on S3 the three may share a second: their order is then by key, but none is lost or repeated
    assert sorted(u.outcome for u in page.uploads + rest.uploads) == ["accepted", "partial", "rejected"]
    partial = reports["partial"].ingest_id
    assert find_upload(any_lake, UploadQuery(ingest_id=partial), frozenset({"23", "42"})).outcome == "partial"
    with pytest.raises(NotFound):
        find_upload(any_lake, UploadQuery(ingest_id=partial), frozenset({"23"}))


def test_the_fullest_cursor_fits_the_documented_length() -> None:
    from functions.uploads.query import MAX_SEEN
    from schemas.uploads import MAX_CURSOR

    key = "reports/ingest/42/" + "d" * 40 + "/" + "f" * 20 + ".json"  # the longest dataset segment
    seen = frozenset(f"{i:020x}" for i in range(MAX_SEEN))
    assert len(encode_cursor("42", Cursor(Position(4_000_000_000, key), seen))) <= MAX_CURSOR
