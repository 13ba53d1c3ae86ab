"""Sampling tasks through the REST API: committed server randomness, one official plan per task,
redraws with reasons, exclusions with reasons, strict JSON (docs/adr/0093, 0094, 0096)."""

from __future__ import annotations

import collections
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import jsonschema_rs
import pydantic
import pytest

from functions.lake import Lake
from functions.sampling import cells, commit
from functions.sampling.service import compute
from functions.sampling.verify import staffing_of
from functions.settings import Settings
from schemas.api import PlanRequest, TaskRequest
from tests.functional.test_api_sampling import MONTH, Api, _api

RATIOS = {"A": 0.01, "B": 0.03, "C": 0.1, "D": 0.3}
WINDOW = {"start": "2026-11-01", "end": "2026-12-15"}


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch, local_settings: Settings, local_lake: Lake) -> Iterator[Api]:
    yield from _api(monkeypatch, local_settings, local_lake)


def _task(**extra: Any) -> dict[str, Any]:
    return {"month": MONTH, "province": "42", "ratios": RATIOS, "window": WINDOW, **extra}


def _post(api: Api, path: str, body: Any = None, *, raw: bytes | None = None, token: str = "default") -> Any:
    headers = {"Content-Type": "application/json",
               "Authorization": f"Bearer {api.token if token == 'default' else token}"}  # fmt: skip
    data = raw if raw is not None else json.dumps(body).encode()
    return api.client.http.post(path, headers=headers, body=data)


def _register(api: Api, **extra: Any) -> dict[str, Any]:
    r = _post(api, "/v1/sampling/tasks", _task(**extra))
    assert r.status_code == 201, r.body
    task: dict[str, Any] = json.loads(r.body)
    assert r.headers["Location"] == f"/v1/sampling/tasks/{task['task_id']}"
    return task


def _draw(api: Api, task_id: str, **body: Any) -> Any:
    return _post(api, f"/v1/sampling/tasks/{task_id}/plans", body)


def test_register_commits_before_the_draw_and_reveals_after(api: Api) -> None:
    task = _register(api, field="food")
    assert len(task["commitment"]) == 64 and task["official_plan_id"] is None and task["draws"] == []
    assert task["frame_size"] == 3000 and task["run_id"] == "run-1"
    stored = api.lake.read_bytes(f"tasks/42/{task['task_id']}/task.json").decode()
    secret = json.loads(api.lake.read_bytes(f"_sampling/secrets/42/{task['task_id']}.json"))["secret"]
    assert secret not in stored and secret not in json.dumps(task)
    r = _draw(api, task["task_id"])
    assert r.status_code == 201, r.body
    plan = json.loads(r.body)
    assert plan["mode"] == "official" and plan["task_id"] == task["task_id"] and plan["draw_no"] == 1
    assert plan["commitment"] == task["commitment"] and plan["supersedes"] is None
    # anyone can check commit → reveal → seed → targets
    assert commit.opens(plan["reveal"], 1, task["commitment"])
    assert hashlib.sha256(bytes.fromhex(plan["reveal"])).hexdigest() == task["commitment"]
    assert plan["seed"] == commit.seed_of(plan["reveal"], task["task_id"], task["frame_digest"], 1)
    again = compute(PlanRequest.model_validate(plan["request"], strict=False),
                    cells.load_published(api.lake, MONTH, "42"), plan["seed"],
                    *staffing_of(api.lake, plan))  # fmt: skip
    assert again["targets"] == plan["targets"] and plan["frame_digest"] == task["frame_digest"]
    got = json.loads(api.get(f"/v1/sampling/tasks/{task['task_id']}").body)
    assert got["official_plan_id"] == plan["plan_id"] and got["supersessions"] == 0
    assert [d["plan_id"] for d in got["draws"]] == [plan["plan_id"]]


def test_grinding_is_impossible(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """A platform that wants to avoid chosen entities has nothing to turn: no seed, no second
    task for the same slot, no second draw without a counted, reasoned supersession."""
    avoid = set(api.table.filter(api.table["risk_class"].to_numpy(zero_copy_only=False) == "D")["uscc"]
                .to_pylist()[:5])  # fmt: skip
    # a caller seed outside test mode: refused
    for k in range(5):
        official = api.post({"month": MONTH, "province": "42", "ratios": RATIOS, "seed": f"g{k}"})
        assert official.status_code == 422 and json.loads(official.body)["field"] == "mode"
        with_mode = api.post({"month": MONTH, "province": "42", "ratios": RATIOS, "seed": f"g{k}",
                              "mode": "official"})  # fmt: skip
        assert with_mode.status_code == 422
    task = _register(api)
    first = json.loads(_draw(api, task["task_id"]).body)
    # re-registering the slot (even with other ratios or a field-less twin) is refused
    for ratios in ({"D": 0.3}, {"D": 0.31}, RATIOS):
        dup = _post(api, "/v1/sampling/tasks", _task(ratios=ratios))
        assert dup.status_code == 409 and json.loads(dup.body)["details"]["task_id"] == task["task_id"]
    # drawing again without a reason: refused, however often; the official plan stays
    for _ in range(20):
        again = _draw(api, task["task_id"])
        assert again.status_code == 409 and json.loads(again.body)["field"] == "reason"
        assert _draw(api, task["task_id"], inspectors=None, note="x").status_code == 409
    view = json.loads(api.get(f"/v1/sampling/tasks/{task['task_id']}").body)
    assert view["official_plan_id"] == first["plan_id"] and view["supersessions"] == 0
    # the seed is what the commitment fixed: the request cannot move it
    assert first["seed"] == commit.seed_of(first["reveal"], task["task_id"], task["frame_digest"], 1)
    # test draws are refused where the settings say production
    monkeypatch.setenv("CREDITRISK_SAMPLING_TEST_MODE", "false")
    import app as app_module

    app_module.reset()
    for k in range(5):
        r = api.post({"month": MONTH, "province": "42", "ratios": RATIOS, "seed": f"g{k}", "mode": "test"})
        assert r.status_code == 403 and json.loads(r.body)["field"] == "mode"
    assert avoid  # the entities the platform wanted to avoid exist; nothing above could steer them


def test_redraw_needs_a_reason_and_supersedes(api: Api) -> None:
    task = _register(api)
    first = json.loads(_draw(api, task["task_id"]).body)
    assert _draw(api, task["task_id"], reason="no_such_reason").status_code == 400
    r = _draw(api, task["task_id"], reason="staffing_failure", note="two inspectors ill")
    assert r.status_code == 201, r.body
    second = json.loads(r.body)
    assert second["draw_no"] == 2 and second["supersedes"] == first["plan_id"]
    assert second["redraw_reason"] == "staffing_failure" and second["redraw_note"] == "two inspectors ill"
    # the revealed key of draw 1 is the hash of draw 2's: draw 1 never told what draw 2 would be
    assert hashlib.sha256(bytes.fromhex(second["reveal"])).hexdigest() == first["reveal"]
    assert commit.opens(second["reveal"], 2, task["commitment"])
    assert second["seed"] != first["seed"] and second["targets"] != first["targets"]
    view = json.loads(api.get(f"/v1/sampling/tasks/{task['task_id']}").body)
    assert view["official_plan_id"] == second["plan_id"] and view["supersessions"] == 1
    assert [(d["draw_no"], d["reason"]) for d in view["draws"]] == [(1, None), (2, "staffing_failure")]
    for p in (first, second):  # both kept, both visible
        assert api.get(f"/v1/sampling/plans/{p['plan_id']}").status_code == 200
    for _ in range(commit.MAX_DRAWS - 2):
        assert _draw(api, task["task_id"], reason="system_failure").status_code == 201
    assert _draw(api, task["task_id"], reason="system_failure").status_code == 409


def test_first_draw_takes_no_reason(api: Api) -> None:
    task = _register(api)
    assert _draw(api, task["task_id"], reason="frame_error").status_code == 422


def test_exclusions_need_a_reason_and_are_counted(api: Api) -> None:
    codes = api.table["uscc"].to_pylist()
    no_reason = _post(api, "/v1/sampling/tasks", _task(exclude=[{"uscc": codes[0]}]))
    assert no_reason.status_code == 422 and json.loads(no_reason.body)["field"] == "exclude"
    unknown = _post(api, "/v1/sampling/tasks", _task(exclude=[{"uscc": codes[0], "reason": "friend"}]))
    assert unknown.status_code == 400
    twice = [{"uscc": codes[0], "reason": "sandbox"}, {"uscc": codes[0], "reason": "cancelled"}]
    assert _post(api, "/v1/sampling/tasks", _task(exclude=twice)).status_code == 422
    exclude = [{"uscc": c, "reason": "sandbox"} for c in codes[:7]]
    exclude += [{"uscc": c, "reason": "under_investigation"} for c in codes[7:10]]
    task = _register(api, ratios={"A": 1.0, "B": 1.0, "C": 1.0, "D": 1.0}, exclude=exclude)
    assert task["exclusions"]["sandbox"] == 7 and task["exclusions"]["under_investigation"] == 3
    assert task["exclusions"]["cancelled"] == 0 and "exclude" not in task
    plan = json.loads(_draw(api, task["task_id"]).body)
    assert plan["exclusions"] == task["exclusions"] and task["frame_size"] == 2990
    assert not {t["uscc"] for t in plan["targets"]} & set(codes[:10])
    assert len(plan["targets"]) == 2990


def test_tasks_are_scoped_to_the_callers_provinces(api: Api) -> None:
    task = _register(api)
    assert _post(api, "/v1/sampling/tasks", _task(), token=api.other).status_code == 403
    assert api.get(f"/v1/sampling/tasks/{task['task_id']}", token=api.other).status_code == 403
    assert _post(api, f"/v1/sampling/tasks/{task['task_id']}/plans", {}, token=api.other).status_code == 403
    assert api.get("/v1/sampling/tasks/42-t0123456789abcdef0123").status_code == 404
    assert api.get("/v1/sampling/tasks/not-a-task").status_code == 400


FORBIDDEN = {"error": "forbidden", "message": "this token is not allowed for the requested province",
             "field": "province"}  # fmt: skip


def test_auth_cells_of_the_sampling_routes(api: Api) -> None:
    """Every sampling route in the one order (ADR 0143, 0151): no token 401; a malformed input 400
    even from another province; then that province's 403, the same whether the task or plan exists.
    A draw is scoped on its task id before its body is read."""
    task = _register(api)
    plan_id = json.loads(_draw(api, task["task_id"]).body)["plan_id"]
    code = api.table["uscc"][0].as_py()
    no_task, no_plan = "42-t" + "0" * 20, "42-" + "0" * 20
    routes: list[tuple[str, str, Any, str, Any]] = [  # method, path, body, a malformed path, its body
        ("POST", "/v1/sampling/plans", {"month": MONTH, "province": "42", "ratios": RATIOS, "mode": "test"},
         "/v1/sampling/plans", {"month": MONTH, "province": "42", "ratios": {}, "mode": "test"}),
        ("POST", "/v1/sampling/tasks", _task(), "/v1/sampling/tasks", _task(ratios={})),
        ("GET", f"/v1/sampling/tasks/{task['task_id']}", None, "/v1/sampling/tasks/nope", None),
        ("GET", f"/v1/sampling/tasks/{no_task}", None, "/v1/sampling/tasks/42-tXYZ", None),
        ("POST", f"/v1/sampling/tasks/{task['task_id']}/plans", {"reason": "nope"},
         "/v1/sampling/tasks/nope/plans", {}),
        ("POST", f"/v1/sampling/tasks/{no_task}/plans", {}, "/v1/sampling/tasks/nope/plans", {}),
        ("GET", f"/v1/sampling/plans/{plan_id}", None, "/v1/sampling/plans/nope", None),
        ("GET", f"/v1/sampling/plans/{no_plan}", None, "/v1/sampling/plans/nope", None),
        ("GET", f"/v1/sampling/plans/{plan_id}/targets?limit=5", None,
         f"/v1/sampling/plans/{plan_id}/targets?limit=0", None),
        ("GET", f"/v1/sampling/plans/{no_plan}/targets", None, "/v1/sampling/plans/nope/targets", None),
        ("GET", f"/v1/classifications/{code}?month={MONTH}", None,
         f"/v1/classifications/{code}?month=2026-13", None),
    ]  # fmt: skip

    def call(method: str, path: str, body: Any, token: str | None) -> Any:
        if method == "GET":
            return api.get(path, token=token)
        if token:
            return _post(api, path, body, token=token)
        return api.client.http.post(path, headers={"Content-Type": "application/json"}, body=json.dumps(body))

    for method, path, body, bad_path, bad_body in routes:
        assert call(method, bad_path, bad_body, None).status_code == 401, path
        malformed = call(method, bad_path, bad_body, api.other)
        assert malformed.status_code == 400 and json.loads(malformed.body)["error"] != "forbidden", bad_path
        foreign = call(method, path, body, api.other)
        assert foreign.status_code == 403 and json.loads(foreign.body) == FORBIDDEN, (path, foreign.body)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (
            b'{"month":"2026-10","province":"42","province":"23","ratios":{"D":0.3},"mode":"test"}',
            "duplicate",
        ),
        (b'{"month":"2026-10","province":"42","ratios":{"D":0.3,"D":1.0},"mode":"test"}', "duplicate"),
        (b'{"month":"2026-10","province":"42","ratios":{"D":1e-400},"mode":"test"}', "1e-400"),
        (b'{"month":"2026-10","province":"42","ratios":{"D":NaN},"mode":"test"}', "NaN"),
    ],
)
def test_duplicate_keys_and_underflow_are_400(api: Api, raw: bytes, says: str) -> None:
    for path in ("/v1/sampling/plans", "/v1/sampling/tasks"):
        r = _post(api, path, raw=raw)
        assert r.status_code == 400 and says in json.loads(r.body)["message"], r.body


@pytest.mark.parametrize("model", [PlanRequest, TaskRequest])
def test_schema_states_the_region_prefix_rule(model: Any) -> None:
    schema = model.model_json_schema()
    ok = {"month": MONTH, "province": "42", "region_prefix": "4201", "ratios": {"D": 0.1}}
    if model is TaskRequest:
        ok["window"] = WINDOW
    jsonschema.validate(ok, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**ok, "region_prefix": "4301"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**ok, "province": "11", "region_prefix": "1"}, schema)


@pytest.mark.parametrize("model", [PlanRequest, TaskRequest])
def test_schema_region_rule_accepts_exactly_what_the_model_accepts(model: Any) -> None:
    """The schema's region rule (docs/adr/0137: the mismatches it rules out, not one branch per
    province) and the model's validator agree on every province with every two-digit prefix,
    longer prefixes, malformed ones and none."""
    # jsonschema_rs (the validator the fuzzer judges with): 11k bodies in milliseconds
    validator = jsonschema_rs.validator_for(model.model_json_schema())
    base: dict[str, Any] = {"month": MONTH, "ratios": {"D": 0.1}}
    if model is TaskRequest:
        base["window"] = WINDOW
    provinces = [f"{p:02d}" for p in range(100)] + ["4", "420", "x2"]
    prefixes: list[str | None] = [f"{r:02d}" for r in range(100)]
    prefixes += [None, "4", "4201", "420102", "4301", "1342", "4201000", "42a1", ""]
    verdicts = collections.Counter()
    for province in provinces:
        for prefix in prefixes:
            body = {**base, "province": province, **({} if prefix is None else {"region_prefix": prefix})}
            try:
                model.model_validate(body)
                accepted = True
            except pydantic.ValidationError:
                accepted = False
            assert validator.is_valid(body) == accepted, body
            verdicts[accepted] += 1
    # each province with its own two-digit prefix and with none; 4201, 420102 (42), 4301 (43), 1342 (13)
    assert verdicts[True] == 90 * 2 + 4


def test_answers_stay_within_the_limit_whatever_the_request_echo(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long exclusion list is echoed in the stored plan's request; an answer that could not hold
    it leaves it out (``request_omitted``) and still fits (docs/adr/0096)."""
    import app as app_module
    from functions.sampling.plans import wire_size

    limit = 16_384
    monkeypatch.setenv("CREDITRISK_API_MAX_ANSWER_BYTES", str(limit))
    app_module.reset()
    codes = api.table["uscc"].to_pylist()
    exclude = [{"uscc": c, "reason": "inspected_recently"} for c in codes[:1500]]
    task = _register(api, ratios={"A": 1.0, "B": 1.0, "C": 1.0, "D": 1.0}, exclude=exclude)
    test_plan = api.post({"month": MONTH, "province": "42", "ratios": {"D": 1.0}, "mode": "test",
                          "exclude": codes[:1500]})  # fmt: skip
    for r in (_draw(api, task["task_id"]), test_plan):
        assert r.status_code == 201, r.body[:300]
        assert wire_size(r.body, limit) <= limit
        plan = json.loads(r.body)
        assert plan["request"] is None and plan["request_omitted"] is True and plan["targets"]
        got = api.get(f"/v1/sampling/plans/{plan['plan_id']}")
        assert got.status_code == 200 and wire_size(got.body, limit) <= limit
        stored = json.loads(api.lake.read_bytes(f"plans/42/{plan['plan_id']}.json"))
        assert len(stored["request"]["exclude"]) == 1500 and "request_omitted" not in stored
