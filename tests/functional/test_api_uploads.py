"""``GET /v1/uploads`` and ``GET /v1/uploads/{ingest_id}`` through ``chalice.test.Client``:
what a province learns about its uploads, paging, ``since``, scope and bad input (issue 13)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

import app as app_module
from functions.auth import tokens
from functions.ingest import IngestReport, ingest_bytes
from functions.lake import Lake
from functions.settings import Settings
from schemas.uploads import UploadOut, UploadsPage
from tests.ingest_data import resident_id
from tests.uploads_data import T0, accepted_csv, ingest_examples, rejected_csv

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

INTERNAL = ("archive_key", "curated_key", "curated_sha256", "curated_bytes", "quarantine_key", "report_key")


@dataclass
class Api:
    client: Client
    mine: str  # province 42
    other: str  # province 23
    both: str  # 42 and 23
    reports: dict[str, IngestReport]
    lake: Lake
    settings: Settings

    def get(self, path: str, token: str | None = None) -> Any:
        token = self.mine if token is None else token
        return self.client.http.get(path, headers={"Authorization": f"Bearer {token}"} if token else {})


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch, local_settings: Settings, local_lake: Lake) -> Iterator[Api]:
    monkeypatch.setenv("CREDITRISK_LAKE_URI", local_settings.lake_uri)
    app_module.reset()
    reports = ingest_examples(local_lake, local_settings)
    mine, _ = tokens.issue_token(local_lake, name="p42", provinces=["42"])
    other, _ = tokens.issue_token(local_lake, name="p23", provinces=["23"])
    both, _ = tokens.issue_token(local_lake, name="p42+23", provinces=["42", "23"])
    with Client(app_module.app) as client:
        yield Api(client, mine, other, both, reports, local_lake, local_settings)
    app_module.reset()


def page(api: Api, query: str, token: str | None = None) -> UploadsPage:
    r = api.get(f"/v1/uploads?{query}", token)
    assert r.status_code == 200, r.body
    return UploadsPage.model_validate_json(r.body)


def test_a_province_reads_every_outcome_of_its_uploads_oldest_first(api: Api) -> None:
    body = page(api, "province=42")
    rep = api.reports
    assert [u.ingest_id for u in body.uploads] == [
        rep[k].ingest_id for k in ("accepted", "partial", "rejected")
    ]
    assert [u.outcome for u in body.uploads] == ["accepted", "partial", "rejected"]
    assert body.has_more is False and body.next_cursor is not None
    accepted, partial, rejected = body.uploads
    assert (accepted.rows_read, accepted.rows_accepted, accepted.rows_rejected) == (20, 20, 0)
    assert accepted.etag == '"e1"' and accepted.source_key == "incoming/42/penalties/a.csv"
    assert (partial.rows_read, partial.rows_accepted, partial.rows_rejected) == (100, 97, 3)
    assert partial.reasons == {"bad_date": 1, "bad_enum": 1, "personal_data": 1}
    assert [(e.line, e.column, e.code) for e in partial.errors] == [
        (3, "kind", "bad_enum"),
        (6, "decided_on", "bad_date"),
        (11, "authority", "personal_data"),
    ]
    assert rejected.file_reason == "missing_column" and "uscc" in (rejected.file_message or "")
    assert rejected.rows_accepted == 0
    raw = api.get("/v1/uploads?province=42").body.decode()
    assert resident_id() not in raw and resident_id()[:17] not in raw  # the personal-data row's value
    for name in (*INTERNAL, "timings"):
        assert f'"{name}"' not in raw


def test_one_upload_by_id(api: Api) -> None:
    partial = api.reports["partial"]
    r = api.get(f"/v1/uploads/{partial.ingest_id}")
    assert r.status_code == 200, r.body
    one = UploadOut.model_validate_json(r.body)
    assert one.outcome == "partial" and one.reasons["bad_enum"] == 1 and one.dataset == "penalties"
    # a token of two provinces finds it without naming the province, and with it
    assert (
        json.loads(api.get(f"/v1/uploads/{partial.ingest_id}", api.both).body)["ingest_id"]
        == partial.ingest_id
    )
    r = api.get(f"/v1/uploads/{partial.ingest_id}?province=42", api.both)
    assert r.status_code == 200


def test_cursor_pages_and_polls_for_newer_uploads(api: Api) -> None:
    first = page(api, "province=42&limit=2")
    assert [u.outcome for u in first.uploads] == ["accepted", "partial"] and first.has_more
    rest = page(api, f"province=42&limit=2&cursor={first.next_cursor}")
    assert [u.outcome for u in rest.uploads] == ["rejected"] and not rest.has_more
    polled = page(api, f"province=42&cursor={rest.next_cursor}")
    assert polled.uploads == [] and polled.next_cursor == rest.next_cursor and not polled.has_more
    late = ingest_bytes(
        api.lake, "incoming/42/penalties/d.csv", accepted_csv(3, start=50), settings=api.settings
    )
    polled = page(api, f"province=42&cursor={rest.next_cursor}")
    assert [u.ingest_id for u in polled.uploads] == [late.ingest_id]


def test_since_filters_on_the_ingest_time(api: Api) -> None:
    since = (T0.replace(minute=30)).isoformat()
    body = page(api, f"province=42&since={since.replace('+00:00', 'Z')}")
    assert [u.outcome for u in body.uploads] == ["partial", "rejected"]
    assert body.since == "2026-11-02T03:30:00Z"
    assert [u.outcome for u in page(api, "province=42&since=2026-11-02").uploads] == [
        "accepted",
        "partial",
        "rejected",
    ]
    assert page(api, "province=42&since=2026-11-03").uploads == []


def test_other_provinces_see_nothing_not_even_existence(api: Api) -> None:
    r = api.get("/v1/uploads?province=42", api.other)
    assert r.status_code == 403
    assert json.loads(r.body) == {
        "error": "forbidden",
        "message": "this token is not allowed for the requested province",
        "field": "province",
    }
    mine = api.reports["partial"].ingest_id
    hidden = api.get(f"/v1/uploads/{mine}", api.other)
    unknown = api.get("/v1/uploads/0123456789abcdef0123", api.other)
    assert hidden.status_code == unknown.status_code == 404
    assert json.loads(hidden.body)["message"].replace(mine, "X") == json.loads(unknown.body)[
        "message"
    ].replace("0123456789abcdef0123", "X")
    assert api.get(f"/v1/uploads/{mine}?province=42", api.other).status_code == 403
    # 23 sees its own upload only
    assert [u.ingest_id for u in page(api, "province=23", api.other).uploads] == [
        api.reports["other"].ingest_id
    ]
    assert api.get("/v1/uploads?province=42", "").status_code == 401
    assert api.get(f"/v1/uploads/{mine}", "").status_code == 401


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("province=4", "province"),
        ("province=42&since=yesterday", "since"),
        ("province=42&limit=0", "limit"),
        ("province=42&limit=201", "limit"),
        ("province=42&cursor=%%%", "cursor"),
        ("province=42&colour=red", "colour"),
        ("", "province"),
    ],
)
def test_bad_list_queries_are_400_naming_the_field(api: Api, query: str, field: str) -> None:
    r = api.get(f"/v1/uploads?{query}")
    assert r.status_code == 400, r.body
    assert json.loads(r.body)["field"] == field


def test_a_cursor_of_another_province_is_refused(api: Api) -> None:
    theirs = page(api, "province=23", api.both).next_cursor
    r = api.get(f"/v1/uploads?province=42&cursor={theirs}", api.both)
    assert r.status_code == 400 and json.loads(r.body)["field"] == "cursor"


def test_bad_ingest_id_is_400(api: Api) -> None:
    r = api.get("/v1/uploads/not-an-id")
    assert r.status_code == 400 and json.loads(r.body)["field"] == "ingest_id"


def test_the_upload_trigger_announces_the_outcome_the_api_shows(
    monkeypatch: pytest.MonkeyPatch, api: Api, tmp_path: Path
) -> None:
    """S3 → EventBridge → ``on_upload_event`` (recorded event): the rejected file is announced to
    its province with exactly the view the API answers."""
    events = tmp_path / "events.jsonl"
    monkeypatch.setenv("CREDITRISK_UPLOAD_EVENTS_FILE", str(events))
    app_module.reset()
    event = json.loads((FIXTURES / "eventbridge-object-created.json").read_text(encoding="utf-8"))
    key = event["detail"]["object"]["key"]
    landed = Path(api.settings.lake_uri) / key
    landed.parent.mkdir(parents=True, exist_ok=True)
    landed.write_bytes(rejected_csv())
    answer = api.client.lambda_.invoke("on_upload_event", event).payload
    assert answer["status"] == "rejected_file" and answer["notified"] == {"status": "sent"}
    (line,) = [json.loads(x) for x in events.read_text(encoding="utf-8").splitlines()]
    detail = line["detail"]
    assert (line["source"], line["detail-type"]) == ("creditrisk.ingest", "Ingest outcome")
    shown = json.loads(api.get(f"/v1/uploads/{answer['ingest_id']}").body)
    assert {k: v for k, v in detail.items() if k not in ("duplicate", "errors_in_api")} == shown
    assert shown["outcome"] == "rejected" and detail["duplicate"] is False
    assert shown["version_id"] == event["detail"]["object"]["version-id"]
    # the same event again (an at-least-once redelivery): announced as a duplicate, nothing new
    again = api.client.lambda_.invoke("on_upload_event", event).payload
    assert again["ingest_id"] == answer["ingest_id"]
    assert [
        json.loads(x)["detail"]["duplicate"] for x in events.read_text(encoding="utf-8").splitlines()
    ] == [
        False,
        True,
    ]
