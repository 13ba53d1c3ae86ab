"""The deployed upload trigger (S3 → EventBridge → ``on_upload_event``, docs/adr/0050), through
``chalice.test.Client`` on local folders: same domain call and outcome as the S3 handler."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from chalice.test import Client

import app as app_module
from functions.lake import Lake

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BODY = (FIXTURES / "artifact-penalties.csv").read_bytes()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Lake, Path]]:
    landing = tmp_path / "landing"
    monkeypatch.setenv("CREDITRISK_LAKE_URI", str(tmp_path / "lake"))
    monkeypatch.setenv("CREDITRISK_LANDING_URI", str(landing))
    app_module.reset()
    yield Lake.from_uri(str(tmp_path / "lake")), landing
    app_module.reset()


def _event(key: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((FIXTURES / "eventbridge-object-created.json").read_text())
    event = copy.deepcopy(event)
    event["detail"]["object"]["key"] = key
    return event


def _land(landing: Path, key: str) -> None:
    path = landing / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(BODY)


def _invoke(event: dict[str, Any]) -> dict[str, Any]:
    with Client(app_module.app) as client:
        payload: dict[str, Any] = client.lambda_.invoke("on_upload_event", event).payload
    return payload


@pytest.mark.parametrize("encode", [True, False], ids=["url-encoded-key", "raw-key"])
def test_upload_event_ingests_the_object(env: tuple[Lake, Path], encode: bool) -> None:
    lake, landing = env
    key = "incoming/42/penalties/2026 10+a.csv"
    _land(landing, key)
    out = _invoke(_event(quote_plus(key, safe="/") if encode else key))
    assert out["status"] == "accepted", out
    assert (out["rows_read"], out["rows_accepted"], out["rows_rejected"]) == (2, 2, 0)
    assert lake.list_files("reports/ingest/42/penalties/")
    assert lake.list_files("archive/42/penalties/")


def test_duplicate_delivery_changes_nothing(env: tuple[Lake, Path]) -> None:
    lake, landing = env
    key = "incoming/42/penalties/2026-10.csv"
    _land(landing, key)
    first = _invoke(_event(key))
    files = {f.key for f in lake.list_files("", include_hidden=True)}
    second = _invoke(_event(key))
    assert second["ingest_id"] == first["ingest_id"]
    assert {f.key for f in lake.list_files("", include_hidden=True)} == files


def test_object_gone_is_reported_not_raised(env: tuple[Lake, Path]) -> None:
    out = _invoke(_event("incoming/42/penalties/never-uploaded.csv"))
    assert out == {"source_key": "incoming/42/penalties/never-uploaded.csv", "status": "missing"}


def test_malformed_event_is_rejected(env: tuple[Lake, Path]) -> None:
    bad = _event("incoming/42/penalties/x.csv")
    del bad["detail"]["bucket"]
    with pytest.raises(Exception, match="bucket"):
        _invoke(bad)
