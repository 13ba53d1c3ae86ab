"""Plans too large for one Lambda answer: first page + ``targets_next``, the targets endpoint,
its scoping; the stored plan stays complete (through ``chalice.test.Client``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from functions import layout
from functions.lake import Lake
from functions.settings import Settings
from tests.functional.test_api_sampling import MONTH, Api, _api

LIMIT = 40_000  # CREDITRISK_API_MAX_ANSWER_BYTES for these tests: a 3000-target plan is ~450 KB


def _body(**extra: Any) -> dict[str, Any]:
    return {
        "month": MONTH,
        "province": "42",
        "ratios": {"A": 1, "B": 1, "C": 1, "D": 1},
        "mode": "test",
        **extra,
    }


@pytest.fixture(params=["local", "s3"])
def paged_api(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setenv("CREDITRISK_API_MAX_ANSWER_BYTES", str(LIMIT))
    settings: Settings = request.getfixturevalue(f"{request.param}_settings")
    lake: Lake = request.getfixturevalue(f"{request.param}_lake")
    yield from _api(monkeypatch, settings, lake)


def _follow(api: Api, first: dict[str, Any]) -> list[Any]:
    targets = list(first["targets"])
    link = first["targets_next"]
    while link:
        r = api.get(link)
        assert r.status_code == 200, r.body
        assert len(json.dumps(r.body.decode("utf-8"))) <= LIMIT  # as the Lambda runtime sends it
        page = json.loads(r.body)
        assert page["offset"] == len(targets) and page["total"] == 3000
        targets += page["targets"]
        link = page["targets_next"]
    return targets


def test_large_plan_is_paged_and_stored_whole(paged_api: Api) -> None:
    r = paged_api.post(_body(seed="big"))
    assert r.status_code == 201, r.body[:300]
    assert len(json.dumps(r.body.decode("utf-8"))) <= LIMIT
    answer = json.loads(r.body)
    assert 0 < len(answer["targets"]) < 3000 and answer["targets_next"]
    assert sum(s["sampled"] for s in answer["strata"]) == 3000
    stored_text = paged_api.lake.read_bytes(layout.plan_key("42", answer["plan_id"]))
    stored = json.loads(stored_text)
    assert "targets_next" not in stored and len(stored["targets"]) == 3000
    # written by the column-wise encoder, yet exactly what json.dumps writes
    assert stored_text == json.dumps(stored, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    assert {k: v for k, v in answer.items() if k not in ("targets", "targets_next")} == {
        k: v for k, v in stored.items() if k != "targets"
    }
    assert _follow(paged_api, answer) == stored["targets"]
    got = paged_api.get(f"/v1/sampling/plans/{answer['plan_id']}")
    assert got.status_code == 200 and got.body == r.body  # the same first page, byte for byte


def test_small_plan_is_whole(paged_api: Api) -> None:
    r = paged_api.post(_body(seed="small", ratios={"D": 0.1}))
    plan = json.loads(r.body)
    assert r.status_code == 201 and "targets_next" not in plan
    page = json.loads(paged_api.get(f"/v1/sampling/plans/{plan['plan_id']}/targets?limit=5").body)
    assert page["targets"] == plan["targets"][:5] and page["next_offset"] == 5


def test_targets_endpoint_is_scoped_and_validated(paged_api: Api) -> None:
    plan_id = json.loads(paged_api.post(_body(seed="s", ratios={"D": 0.1})).body)["plan_id"]
    path = f"/v1/sampling/plans/{plan_id}/targets"
    assert paged_api.get(path, token=None).status_code == 401
    forbidden = paged_api.get(path, token=paged_api.other)
    missing = paged_api.get("/v1/sampling/plans/42-00000000000000000000/targets", token=paged_api.other)
    assert forbidden.status_code == 403 and forbidden.body == missing.body  # nothing leaks
    assert paged_api.get("/v1/sampling/plans/42-00000000000000000000/targets").status_code == 404
    for query, field in (("limit=0", "limit"), ("limit=10001", "limit"), ("offset=-1", "offset"),
                         ("offset=x", "offset"), ("page=2", "page")):  # fmt: skip
        bad = paged_api.get(f"{path}?{query}")
        assert bad.status_code == 400 and json.loads(bad.body)["field"] == field, (query, bad.body)
    assert paged_api.get("/v1/sampling/plans/nope/targets").status_code == 400
