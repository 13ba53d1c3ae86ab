"""``creditrisk audit repair`` / ``audit verify`` through a real subprocess, on a folder lake and
on moto S3 (conditional writes: ``If-None-Match: *`` / ``If-Match``), after writers that died at
two steps: a registration between its slot and the chain, and a test plan between its record
and the head (docs/adr/0140). Exit statuses: 0 whole, 1 something needs (or needed) a person."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from functions import layout
from functions.lake import Lake
from functions.sampling import audit
from functions.sampling.tasks import draw_test_plan, register_task
from functions.sampling.verify import verify_plan
from schemas.api import PlanRequest
from tests.conftest import REGION
from tests.crashing_lake import Crashed, CrashingLake
from tests.sampling_data import (
    AUDIT_KEY,
    LIFE_AT,
    LIFE_MONTH,
    WHO,
    life,
    publish_life,
    task_request,
)

Run = Callable[..., tuple[int, str, str]]


@dataclass(frozen=True)
class Case:
    lake: Lake
    env: dict[str, str]


@pytest.fixture(params=["local", "s3"])
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Case:
    key_file = tmp_path / "audit.key"
    key_file.write_text("ab" * 32)  # tests.sampling_data.AUDIT_KEY
    env = {"CREDITRISK_AUDIT_KEY_FILE": str(key_file), "CREDITRISK_AUDIT_KMS_KEY_ID": ""}
    if request.param == "local":
        lake: Lake = request.getfixturevalue("local_lake")
        env["CREDITRISK_LAKE_URI"] = lake.root
    else:
        lake = request.getfixturevalue("s3_lake")
        env |= {"CREDITRISK_LAKE_URI": lake.uri, "CREDITRISK_REGION": REGION,
                "CREDITRISK_AWS_ENDPOINT_URL": request.getfixturevalue("moto_endpoint")}  # fmt: skip
    publish_life(lake)
    return Case(lake, env)


def _crash(lake: Lake) -> str:
    """A chain with history, then two dead writers; returns the dead test plan's id."""
    life(lake, "4201")
    with pytest.raises(Crashed):  # secret, task, slot written; the chain never was
        register_task(CrashingLake(lake, 3), task_request("4205"), WHO, AUDIT_KEY, now=LIFE_AT)
    body = {"month": LIFE_MONTH, "province": "42", "ratios": {"D": 0.2}, "seed": "x", "mode": "test"}
    dying = CrashingLake(lake, 2)  # the plan and its sealed record written; the head never moved
    with pytest.raises(Crashed):
        draw_test_plan(dying, PlanRequest.model_validate(body, strict=False), WHO, AUDIT_KEY, now=LIFE_AT)
    return dying.written[0].rsplit("/", 1)[-1].removesuffix(".json")


def test_repair_finishes_what_dead_writers_left(case: Case, run_cli: Run) -> None:
    plan_id = _crash(case.lake)
    code, out, _ = run_cli("audit", "verify", "--province", "42", env=case.env)
    assert code == 1 and "is not the last record" in out, out
    assert "not on the audit chain" in verify_plan(case.lake, plan_id, AUDIT_KEY).message

    code, out, err = run_cli("audit", "repair", "--province", "42", "--dry-run", env=case.env)
    assert code == 1, out + err
    assert "would do: finished_append" in out and "would do: registered_task" in out, out
    assert not audit.check_chain(case.lake, AUDIT_KEY, "42").ok  # a dry run writes nothing

    code, out, err = run_cli("audit", "repair", "--province", "42", env=case.env)
    assert code == 0, out + err
    assert "did: finished_append" in out and "did: registered_task" in out, out
    last = audit.check_chain(case.lake, AUDIT_KEY, "42").records[-1]
    assert last["kind"] == "repair" and str(last["operator"]).startswith("cli:")
    assert [a["action"] for a in last["actions"]] == ["finished_append", "registered_task"]

    code, out, _ = run_cli("audit", "repair", "--province", "42", env=case.env)
    assert code == 0 and "nothing to repair" in out, out  # idempotent
    code, out, _ = run_cli("audit", "verify", "--province", "42", env=case.env)
    # two lives' worth of official draws; the dead writer's test plan is counted apart
    assert code == 0 and out.rstrip().endswith("ok") and "NOT" not in out, out
    assert "(task 2, plan 1, supersession 1, test_plan 2, repair 1)" in out, out
    code, out, _ = run_cli("plan", "verify", plan_id, env=case.env)
    assert code == 0 and ": match" in out, out
    life(case.lake, "4210")  # the chain takes appends again


def test_an_unsealed_record_is_set_aside_through_the_cli(case: Case, run_cli: Run) -> None:
    """A record nobody sealed is replaced ``If-Match`` its ETag by a repair record; the
    original is kept beside the chain (and S3 keeps the replaced version: audit/ is versioned)."""
    life(case.lake, "4201")
    n = audit.signed_head(case.lake, AUDIT_KEY, "42")[0] + 1
    planted = b'{"kind":"plan"}'
    case.lake.write_bytes(layout.audit_record_key("42", n), planted)
    code, out, err = run_cli("audit", "repair", "--province", "42", env=case.env)
    assert code == 0 and "did: set_aside" in out, out + err
    assert case.lake.read_bytes(layout.audit_set_aside_key("42", n, audit.sha256(planted))) == planted
    rec = json.loads(case.lake.read_bytes(layout.audit_record_key("42", n)))
    assert rec["kind"] == "repair" and rec["subject"] == audit.sha256(planted)
    assert audit.check_chain(case.lake, AUDIT_KEY, "42").ok


def test_a_tampered_chain_exits_1_and_is_left_alone(case: Case, run_cli: Run) -> None:
    life(case.lake, "4201")
    key = layout.audit_record_key("42", 2)
    rec = json.loads(case.lake.read_bytes(key))
    case.lake.write_bytes(key, audit.canonical({**rec, "at": "2026-01-01"}))
    code, out, _ = run_cli("audit", "repair", "--province", "42", env=case.env)
    assert code == 1 and "problem: record 2: digest does not match its content" in out, out
    assert json.loads(case.lake.read_bytes(key))["at"] == "2026-01-01"  # not papered over
    assert not audit.check_chain(case.lake, AUDIT_KEY, "42").ok
