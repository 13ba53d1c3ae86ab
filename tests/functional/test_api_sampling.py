"""The REST API through ``chalice.test.Client`` on a local lake and on a moto S3 lake."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

import app as app_module
from functions.auth import tokens
from functions.lake import Lake
from functions.settings import Settings
from tests.sampling_data import publish, results_table

MONTH = "2026-10"
RATIOS = {"A": 0.01, "B": 0.03, "C": 0.1, "D": 0.3}


@dataclass
class Api:
    client: Client
    lake: Lake
    token: str  # provinces 42
    other: str  # provinces 23
    table: Any

    def post(self, body: Any, token: str | None = "default", raw: bytes | None = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {self.token if token == 'default' else token}"
        data = raw if raw is not None else json.dumps(body).encode()
        return self.client.http.post("/v1/sampling/plans", headers=headers, body=data)

    def get(self, path: str, token: str | None = "default") -> Any:
        headers = {"Authorization": f"Bearer {self.token if token == 'default' else token}"} if token else {}
        return self.client.http.get(path, headers=headers)


def _api(monkeypatch: pytest.MonkeyPatch, settings: Settings, lake: Lake) -> Iterator[Api]:
    monkeypatch.setenv("CREDITRISK_LAKE_URI", settings.lake_uri)
    if settings.aws_endpoint_url:
        monkeypatch.setenv("CREDITRISK_AWS_ENDPOINT_URL", settings.aws_endpoint_url)
        monkeypatch.setenv("CREDITRISK_REGION", settings.region)
        # every plan goes on the audit chain (docs/adr/0126): an S3 lake has no key of its own
        key_file = Path(tempfile.mkdtemp(prefix="creditrisk-audit-")) / "audit.key"
        key_file.write_text("cd" * 32, encoding="ascii")
        monkeypatch.setenv("CREDITRISK_AUDIT_KEY_FILE", str(key_file))
    app_module.reset()
    table = results_table("42", 3000, run_id="run-1")
    publish(lake, table, MONTH, "42", row_group_size=500)
    publish(lake, results_table("23", 500, run_id="run-23"), MONTH, "23")
    token, _ = tokens.issue_token(lake, name="platform-42", provinces=["42"])
    other, _ = tokens.issue_token(lake, name="platform-23", provinces=["23"])
    with Client(app_module.app) as client:
        yield Api(client, lake, token, other, table)
    app_module.reset()


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch, local_settings: Settings, local_lake: Lake) -> Iterator[Api]:
    yield from _api(monkeypatch, local_settings, local_lake)


@pytest.fixture(params=["local", "s3"])
def any_api(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    kind = request.param
    settings = request.getfixturevalue(f"{kind}_settings")
    lake = request.getfixturevalue(f"{kind}_lake")
    yield from _api(monkeypatch, settings, lake)


def _body(**extra: Any) -> dict[str, Any]:
    return {"month": MONTH, "province": "42", "ratios": RATIOS, "mode": "test", **extra}


def test_plan_round_trip(any_api: Api) -> None:
    r = any_api.post(_body(seed="round-trip"))
    assert r.status_code == 201, r.body
    plan = json.loads(r.body)
    assert r.headers["Location"] == f"/v1/sampling/plans/{plan['plan_id']}"
    assert plan["seed"] == "round-trip" and plan["run_id"] == "run-1"
    assert plan["caller"]["name"] == "platform-42"
    populations = {s["risk_class"]: s["population"] for s in plan["strata"]}
    assert sum(populations.values()) == 3000
    for s in plan["strata"]:
        assert s["sampled"] == min(
            s["population"], -(-s["population"] * int(RATIOS[s["risk_class"]] * 100) // 100)
        )
    t = plan["targets"][0]
    assert set(t) == {"uscc", "name", "risk_class", "region_code", "industry_code", "inspectors"}
    got = any_api.get(f"/v1/sampling/plans/{plan['plan_id']}")
    assert got.status_code == 200 and got.body == r.body  # stored plan, unchanged


def test_same_seed_same_plan_targets(api: Api) -> None:
    a = json.loads(api.post(_body(seed="x")).body)
    b = json.loads(api.post(_body(seed="x")).body)
    assert (
        a["plan_id"] != b["plan_id"]
        and a["targets"] == b["targets"]
        and a["frame_digest"] == b["frame_digest"]
    )


def test_scope_narrowing(api: Api) -> None:
    body = _body(
        seed="n", region_prefix="4201", industries=["C"], entity_types=["enterprise"], ratios={"A": 1.0}
    )
    plan = json.loads(api.post(body).body)
    assert plan["targets"]
    for t in plan["targets"]:
        assert (
            t["region_code"].startswith("4201")
            and t["industry_code"].startswith("C")
            and t["risk_class"] == "A"
        )


def test_without_credential_401(api: Api) -> None:
    """The test client runs the built-in authorizer like ``chalice local`` does (chalice 1.34)."""
    for r in (
        api.post(_body(), token=None),
        api.get("/v1/sampling/plans/42-0123456789abcdef0123", token=None),
        api.get(f"/v1/classifications/{api.table['uscc'][0]}?month={MONTH}", token=None),
    ):
        assert r.status_code == 401
    bad = api.post(_body(), token="crk_0123456789ab_" + "x" * 43)
    assert bad.status_code == 401 and json.loads(bad.body)["error"] == "unauthenticated"


def _lambda_event(
    method: str, path: str, resource: str, params: dict[str, str], body: str | None
) -> dict[str, Any]:
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": {"resourcePath": resource, "httpMethod": method, "path": path},
        "body": body,
        "isBase64Encoded": False,
    }


def test_handlers_authenticate_even_when_the_gateway_does_not(api: Api) -> None:
    """Invoke the Lambda handler directly (no authorizer in front): still 401, never data."""
    from chalice.local import LambdaContext

    code = api.table["uscc"][0].as_py()
    events = [
        _lambda_event("POST", "/v1/sampling/plans", "/v1/sampling/plans", {}, json.dumps(_body())),
        _lambda_event(
            "GET", f"/v1/classifications/{code}", "/v1/classifications/{uscc}", {"uscc": code}, None
        ),
        _lambda_event(
            "GET",
            "/v1/sampling/plans/42-00000000000000000000",
            "/v1/sampling/plans/{plan_id}",
            {"plan_id": "42-00000000000000000000"},
            None,
        ),
    ]
    for event in events:
        out = app_module.app(event, LambdaContext("api_handler", 256))
        assert out["statusCode"] == 401, out
        assert json.loads(out["body"])["error"] == "unauthenticated"


def test_revoked_token_401(api: Api) -> None:
    tid = api.token.split("_")[1]
    tokens.revoke_token(api.lake, tid)
    assert api.post(_body()).status_code == 401


def test_outside_provinces_403_without_leaks(api: Api) -> None:
    """Same answer whether or not the province has data: no population, no existence hints."""
    with_data = api.post(_body(), token=api.other)
    no_data = api.post(_body(province="61"), token=api.other)
    no_month = api.post(_body(month="2020-01"), token=api.other)
    assert with_data.status_code == no_data.status_code == no_month.status_code == 403
    assert json.loads(with_data.body) == json.loads(no_data.body) == json.loads(no_month.body)
    assert "population" not in with_data.body.decode() and "42" not in with_data.body.decode()
    code = api.table["uscc"][0].as_py()
    missing = "91" + code[2:4] + "0" * 13 + "X"
    a = api.get(f"/v1/classifications/{code}?month={MONTH}", token=api.other)
    b = api.get(f"/v1/classifications/{missing}?month={MONTH}", token=api.other)
    c = api.get(f"/v1/classifications/{code}?month=2019-01", token=api.other)
    assert a.status_code == b.status_code == c.status_code == 403 and a.body == b.body == c.body
    plan_id = json.loads(api.post(_body()).body)["plan_id"]
    d = api.get(f"/v1/sampling/plans/{plan_id}", token=api.other)
    e = api.get("/v1/sampling/plans/42-00000000000000000000", token=api.other)
    assert d.status_code == e.status_code == 403 and d.body == e.body


def test_classification_lookup(any_api: Api) -> None:
    row = any_api.table.slice(1234, 1).to_pylist()[0]
    r = any_api.get(f"/v1/classifications/{row['uscc']}?month={MONTH}")
    assert r.status_code == 200, r.body
    out = json.loads(r.body)
    assert out["risk_class"] == row["risk_class"] and out["risk_score"] == row["risk_score"]
    assert out["reasons"] == row["reasons"] and out["rules"] == row["rules"] and out["month"] == MONTH
    absent = "91420100" + "0" * 9 + "X"
    assert any_api.get(f"/v1/classifications/{absent}?month={MONTH}").status_code == 404
    nomonth = any_api.get(f"/v1/classifications/{row['uscc']}?month=2019-01")
    assert nomonth.status_code == 404 and json.loads(nomonth.body)["field"] == "month"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_body(ratios={"A": 1.5}), "ratios.A"),
        (_body(ratios={"A": -0.1}), "ratios.A"),
        (_body(ratios={"E": 0.1}), "ratios.E.[key]"),
        (_body(ratios={}), "ratios"),
        (_body(month="2026-13"), "month"),
        (_body(month="202610"), "month"),
        (_body(province="4"), "province"),
        (_body(province=42), "province"),
        (_body(region_prefix="4301"), "region_prefix"),
        (_body(industries=["Z"]), "industries.0"),
        (_body(entity_types=["bank"]), "entity_types.0"),
        (_body(exclude=["not-a-code"]), "exclude.0"),
        (_body(seed=""), "seed"),
        (_body(surprise=1), "surprise"),
        (_body(inspectors={"pool": [{"id": "a", "region_code": "42"}] * 2}), "inspectors.pool"),
        (_body(inspectors={"per_target": 1}), "inspectors.per_target"),
        (_body(inspectors={"field": "astrology"}), "inspectors.field"),
        ([1, 2], "body"),
        (None, "body"),
        ({k: v for k, v in _body().items() if k != "ratios"}, "ratios"),
    ],
)
def test_bad_input_is_400_naming_the_field(api: Api, body: Any, field: str) -> None:
    r = api.post(body)
    assert r.status_code == 400, r.body
    err = json.loads(r.body)
    assert err["error"] == "invalid_input" and err["field"] == field, err
    assert err["message"]


def test_malformed_json_is_400(api: Api) -> None:
    for raw in (b"{", b"\xff\xfe", b"", b'{"month": "2026-10",}'):
        r = api.post(None, raw=raw)
        assert r.status_code == 400, (raw, r.body)
        assert json.loads(r.body)["field"] == "body"


def test_month_without_results_is_404(api: Api) -> None:
    r = api.post(_body(month="2026-09"))
    assert r.status_code == 404
    assert json.loads(r.body)["field"] == "month"


def test_bad_lookup_input(api: Api) -> None:
    code = api.table["uscc"][0].as_py()
    for path, field in (
        ("/v1/classifications/123", "uscc"),
        (f"/v1/classifications/{code}", "month"),
        (f"/v1/classifications/{code}?month=2026-1", "month"),
        (f"/v1/classifications/{code}?month={MONTH}&x=1", "x"),
        ("/v1/sampling/plans/not-a-plan", "plan_id"),
    ):
        r = api.get(path)
        assert r.status_code == 400, (path, r.body)
        assert json.loads(r.body)["field"] == field
    assert api.get("/v1/sampling/plans/42-00000000000000000000").status_code == 404


def test_oversized_body_is_refused_before_parsing(api: Api) -> None:
    r = api.post(None, raw=b'{"exclude": [' + b'"91420100000000000X",' * 350_000 + b'"x"]}')
    assert r.status_code == 400
    assert json.loads(r.body)["field"] == "body"
