"""``GET /v1/public/disclosures/{plan_id}`` (no credential) and ``creditrisk disclose`` in a subprocess."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from chalice.test import Client

import app as app_module
from functions import layout
from functions.auth.tokens import Principal
from functions.lake import Lake
from functions.sampling.tasks import create_plan
from functions.settings import Settings
from schemas.api import PlanRequest
from tests.functional.test_warnings_triggers import Env, env  # noqa: F401 (the fixture)
from tests.sampling_data import AUDIT_KEY, inspections, publish, results_table


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch, local_settings: Settings) -> Iterator[Client]:
    monkeypatch.setenv("CREDITRISK_LAKE_URI", local_settings.lake_uri)
    app_module.reset()
    with Client(app_module.app) as c:
        yield c
    app_module.reset()


def _plan_with_results(lake: Lake) -> tuple[str, list[str]]:
    publish(lake, results_table("42", 1000, run_id="run-1"), "2026-10", "42")
    req = PlanRequest.model_validate(
        {"month": "2026-10", "province": "42", "ratios": {"B": 0.05, "D": 0.5}, "seed": "d"}, strict=False
    )
    _, text = create_plan(lake, req, Principal("t", "platform", frozenset({"42"})), AUDIT_KEY)
    plan = json.loads(text)
    codes = [t["uscc"] for t in plan["targets"]][:3]
    rows = [
        {"inspection_id": f"I{k}", "uscc": c, "inspected_on": "2026-11-10", "plan_id": plan["plan_id"],
         "domain": "other", "result": "no_problem", "authority": "武汉市市场监督管理局"}
        for k, c in enumerate(codes)
    ]  # fmt: skip
    inspections(lake, "42", rows, ingested_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
    return plan["plan_id"], codes


def test_cli_publishes_and_the_public_route_serves(
    client: Client, local_lake: Lake, local_settings: Settings, run_cli: Callable[..., tuple[int, str, str]]
) -> None:
    pid, codes = _plan_with_results(local_lake)
    r = client.http.get(f"/v1/public/disclosures/{pid}")
    assert r.status_code == 404 and json.loads(r.body)["error"] == "not_found"  # not yet published
    status, out, err = run_cli("--lake", local_settings.lake_uri, "disclose", pid, "--format", "csv")
    assert status == 0, err
    rows = list(csv.reader(io.StringIO(out.lstrip("\ufeff"))))
    assert rows[0][0] == "抽查计划编号" and sorted(r[6] for r in rows[1:]) == sorted(codes)
    r = client.http.get(f"/v1/public/disclosures/{pid}")  # no Authorization header at all
    assert r.status_code == 200
    doc = json.loads(r.body)
    assert doc["entities"] == 3 and {row["result"] for row in doc["rows"]} == {"未发现问题"}
    assert b"risk_class" not in r.body and b"inspectors" not in r.body
    csv_answer = client.http.get(f"/v1/public/disclosures/{pid}?format=csv")
    assert csv_answer.status_code == 200 and csv_answer.headers["Content-Type"].startswith("text/csv")
    assert (
        csv_answer.body.decode("utf-8")
        .lstrip("\ufeff")
        .splitlines()[0]
        .startswith("抽查计划编号,抽查任务编号")
    )


def test_bad_requests_and_exit_statuses(
    client: Client, local_lake: Lake, local_settings: Settings, run_cli: Callable[..., tuple[int, str, str]]
) -> None:
    for path, field in (
        ("/v1/public/disclosures/not-a-plan", "plan_id"),
        ("/v1/public/disclosures/42-0123456789abcdef0123?format=xml", "format"),
        ("/v1/public/disclosures/42-0123456789abcdef0123?x=1", "x"),
    ):
        r = client.http.get(path)
        assert r.status_code == 400 and json.loads(r.body)["field"] == field, (path, r.body)
    publish(local_lake, results_table("42", 300, run_id="run-1"), "2026-10", "42")
    status, _, err = run_cli("--lake", local_settings.lake_uri, "disclose", "42-0123456789abcdef0123")
    assert status == 1 and "no plan" in err  # unknown plan: ran and failed
    status, _, err = run_cli("--lake", local_settings.lake_uri, "disclose", "nope")
    assert status == 2  # malformed plan id: a usage error


def test_ingesting_results_publishes_the_disclosure(
    client: Client,
    local_lake: Lake,
    local_settings: Settings,
    tmp_path: Path,
    run_cli: Callable[..., tuple[int, str, str]],
) -> None:
    publish(local_lake, results_table("42", 600, run_id="run-1"), "2026-10", "42")
    req = PlanRequest.model_validate(
        {"month": "2026-10", "province": "42", "ratios": {"D": 1.0}, "seed": "i"}, strict=False
    )
    _, text = create_plan(local_lake, req, Principal("t", "platform", frozenset({"42"})), AUDIT_KEY)
    plan = json.loads(text)
    code = plan["targets"][0]["uscc"]
    upload = tmp_path / "landing" / "incoming" / "42" / "inspections" / "results.csv"
    upload.parent.mkdir(parents=True)
    upload.write_text(
        "检查编号,统一社会信用代码,检查日期,抽查计划编号,检查领域,检查结果,检查机关\n"
        f"R1,{code},2026-11-03,{plan['plan_id']},food,corrected,武汉市江岸区市场监督管理局\n",
        encoding="utf-8",
    )
    status, _, err = run_cli("--lake", local_settings.lake_uri, "ingest", str(upload))
    assert status == 0, err
    assert f"disclosure {plan['plan_id']}: 1 entities published" in err
    r = client.http.get(f"/v1/public/disclosures/{plan['plan_id']}")
    assert r.status_code == 200
    row = json.loads(r.body)["rows"][0]
    assert row == {
        "plan_id": plan["plan_id"], "task_id": plan["plan_id"], "check_type": "不定向抽查",
        "authority": "武汉市江岸区市场监督管理局", "completed_on": "2026-11-03",
        "name": plan["targets"][0]["name"], "uscc": code, "result": "发现问题已责令改正",
    }  # fmt: skip


def test_the_upload_trigger_publishes_the_disclosure_once(env: Env) -> None:  # noqa: F811 (fixture)
    """In AWS an inspections upload reaches ``on_upload`` (no CLI): the plans it names get their
    public record; S3's at-least-once delivery republishes nothing (docs/adr/0128)."""
    publish(env.lake, results_table("42", 300, run_id="run-1"), "2026-10", "42")
    req = PlanRequest.model_validate(
        {"month": "2026-10", "province": "42", "ratios": {"D": 1.0}, "seed": "u"}, strict=False
    )
    _, text = create_plan(env.lake, req, Principal("t", "platform", frozenset({"42"})), AUDIT_KEY)
    plan = json.loads(text)
    code = plan["targets"][0]["uscc"]
    body = (
        "检查编号,统一社会信用代码,检查日期,抽查计划编号,检查领域,检查结果,检查机关\n"
        f"R1,{code},2026-11-03,{plan['plan_id']},food,no_problem,武汉市江岸区市场监督管理局\n"
    ).encode()
    [first] = env.upload("incoming/42/inspections/r.csv", body)
    assert first["status"] == "accepted" and first["disclosed"] == [plan["plan_id"]], first
    key = layout.disclosure_key("42", plan["plan_id"], "json")
    published = env.lake.read_bytes(key)
    assert json.loads(published)["rows"][0]["uscc"] == code
    event = env.client.events.generate_s3_event(bucket=env.bucket, key="incoming/42/inspections/r.csv")
    [again] = env.client.lambda_.invoke("on_upload", event).payload
    assert again["status"] == "duplicate"
    assert env.lake.read_bytes(key) == published  # same record, same published_at
