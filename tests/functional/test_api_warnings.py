"""``GET /v1/warnings`` through ``chalice.test.Client``: scope, filters, paging, bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from chalice.test import Client

from functions.lake import Lake
from functions.settings import Settings
from functions.warnings import run_warnings
from schemas.warnings import WarningsOut
from tests.api_client import get, two_provinces
from tests.unit.test_warnings_rules import NOW, M, P, build


@pytest.fixture
def api(
    monkeypatch: pytest.MonkeyPatch, local_settings: Settings, local_lake: Lake
) -> Iterator[tuple[Client, str, str]]:
    build(local_lake)
    run_warnings(local_lake, month=M, province=P, trigger="monthly", now=NOW, settings=local_settings)
    yield from two_provinces(monkeypatch, local_settings, local_lake)


def test_lists_filters_and_pages(api: tuple[Client, str, str]) -> None:
    client, mine, _ = api
    r = get(client, f"/v1/warnings?month={M}&province={P}", mine)
    assert r.status_code == 200, r.body
    body = WarningsOut.model_validate_json(r.body)
    assert body.total == len(body.warnings) > 10 and body.next_offset is None
    assert len({w.warning_key for w in body.warnings}) == body.total
    r = get(client, f"/v1/warnings?month={M}&province={P}&rule=complaint_surge", mine)
    one = json.loads(r.body)
    assert one["total"] == 1 and one["warnings"][0]["evidence"]["month_count"] == 6
    r = get(client, f"/v1/warnings?month={M}&province={P}&limit=5&offset=5", mine)
    page = json.loads(r.body)
    assert [w["warning_key"] for w in page["warnings"]] == [w.warning_key for w in body.warnings[5:10]]
    assert page["next_offset"] == 10
    r = get(client, f"/v1/warnings?month=2026-01&province={P}", mine)
    assert r.status_code == 200 and json.loads(r.body)["total"] == 0


def test_scope_and_bad_input(api: tuple[Client, str, str]) -> None:
    client, mine, other = api
    assert get(client, f"/v1/warnings?month={M}&province={P}", None).status_code == 401
    assert get(client, f"/v1/warnings?month={M}&province={P}", other).status_code == 403
    r = get(client, f"/v1/warnings?month=2026-13&province={P}", mine)
    assert r.status_code == 400 and json.loads(r.body)["field"] == "month"
    r = get(client, f"/v1/warnings?month={M}&province={P}&limit=0", mine)
    assert r.status_code == 400
    r = get(client, f"/v1/warnings?month={M}&province={P}&colour=red", mine)
    assert r.status_code == 400


def test_state_filter(api: tuple[Client, str, str]) -> None:
    client, mine, _ = api
    r = get(client, f"/v1/warnings?month={M}&province={P}&state=open", mine)
    assert r.status_code == 200, r.body
    body = WarningsOut.model_validate_json(r.body)
    assert body.state == "open" and body.total > 10
    assert {w.state for w in body.warnings} == {"open"} and all(w.state_at for w in body.warnings)
    r = get(client, f"/v1/warnings?month={M}&province={P}&state=resolved", mine)
    assert r.status_code == 200 and json.loads(r.body)["total"] == 0
    r = get(client, f"/v1/warnings?month={M}&province={P}&state=closed", mine)
    assert r.status_code == 400 and json.loads(r.body)["field"] == "state"
