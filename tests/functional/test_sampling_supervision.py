"""Tolerance lists (包容审慎: whitelist, sandbox) and re-inspection limits in the draw (issue 15,
docs/adr/0123, 0124): the set computed on the engine (DuckDB here), strata of their own, exits
recorded with their reason, re-inspection exclusions counted, and ``plan verify`` replaying it."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pytest

from functions.auth.tokens import Principal
from functions.lake import Lake
from functions.sampling import cells, supervision
from functions.sampling import frame as frames
from functions.sampling.service import make_plan
from functions.sampling.tasks import draw_task, register_task
from functions.sampling.verify import verify_plan
from schemas.api import DrawRequest, PlanRequest, SupervisionIn, TaskRequest
from tests.sampling_data import curate, publish, results_table

MONTH = "2026-10"  # judged on 2026-10-31: report year 2025 overdue, inspection year 2026
RATIOS = {"A": 0.05, "B": 0.05, "C": 0.2, "D": 0.5}
NOW = dt.datetime(2026, 11, 5, 8, 0, tzinfo=dt.UTC)
OPERATOR = Principal("tok", "operator", frozenset({"42"}))


@dataclass(frozen=True)
class World:
    lake: Lake
    table: pa.Table
    whitelist: list[str]  # A/B entities on the whitelist (kept)
    whitelist_d: str  # a D entity on the whitelist: exits (risk_class)
    sandbox: list[str]  # A/B entities in the sandbox (kept)
    sandbox_overdue: str  # a sandbox entity without its 2025 annual report: exits
    expired: str  # whitelisted in 2025, its year of tolerance over
    inspected: list[str]  # A/B entities inspected in 2026: left out
    inspected_d: str  # a D entity inspected in 2026: drawn again (by_class)
    inspected_last_year: str


def _row(table: pa.Table, code: str) -> dict[str, Any]:
    i = table["uscc"].to_pylist().index(code)
    return {c: table[c][i].as_py() for c in table.column_names}


def _build(lake: Lake, *, sampling_copy: bool) -> World:
    table = results_table("42", 1200, seed=11)
    publish(lake, table, MONTH, "42", sampling_copy=sampling_copy)
    codes, classes = table["uscc"].to_pylist(), table["risk_class"].to_pylist()
    low = [u for u, c in zip(codes, classes, strict=True) if c in "AB"]
    ds = [u for u, c in zip(codes, classes, strict=True) if c == "D"]
    w = World(lake, table, low[0:40], ds[0], low[40:50], low[50], low[51], low[60:90], ds[1], low[95])

    def entry(code: str, list_type: str, start: str, end: str | None = None) -> dict[str, str | None]:
        return {"uscc": code, "list_type": list_type, "reason": "四新企业", "authority": "黑龙江省市场监管局",
                "listed_from": start, "tolerance_end": end}  # fmt: skip

    lists = [entry(u, "whitelist", "2026-03-01") for u in [*w.whitelist, w.whitelist_d]]
    lists += [entry(u, "sandbox", "2026-02-01", "2027-01-31") for u in [*w.sandbox, w.sandbox_overdue]]
    lists.append(entry(w.expired, "whitelist", "2025-06-01"))
    lists.append(entry(w.sandbox[0], "whitelist", "2026-03-01"))  # on both: the sandbox wins
    curate(
        lake, "supervision_lists", "42", lists, ingest_id="lists-1", ingested_at=NOW - dt.timedelta(days=3)
    )
    ents = []
    for u in [*w.sandbox, w.sandbox_overdue]:
        r = _row(table, u)
        ents.append({"uscc": u, "name": r["name"], "entity_type": r["entity_type"],
                     "region_code": r["region_code"], "industry_code": r["industry_code"],
                     "established_on": "2020-05-01", "status": "active"})  # fmt: skip
    curate(lake, "entities", "42", ents, ingest_id="ent-1", ingested_at=NOW - dt.timedelta(days=3))
    reports = [{"uscc": u, "year": "2025", "filed_on": "2026-05-20"} for u in w.sandbox]
    curate(lake, "annual_reports", "42", reports, ingest_id="ar-1", ingested_at=NOW - dt.timedelta(days=3))
    insp = [
        {"inspection_id": f"i-{k}", "uscc": u, "inspected_on": "2026-04-10", "domain": "food",
         "result": "no_problem"}
        for k, u in enumerate([*w.inspected, w.inspected_d])
    ]  # fmt: skip
    insp.append({"inspection_id": "i-old", "uscc": w.inspected_last_year, "inspected_on": "2025-09-01",
                 "domain": "food", "result": "no_problem"})  # fmt: skip
    curate(lake, "inspections", "42", insp, ingest_id="insp-1", ingested_at=NOW - dt.timedelta(days=3))
    return w


@pytest.fixture(scope="module", params=[True, False], ids=["cells", "partition"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> World:
    cells.clear_cache()
    frames.clear_cache()
    lake = Lake.from_uri(str(tmp_path_factory.mktemp("supervision") / "lake"))
    return _build(lake, sampling_copy=bool(request.param))


def _plan(world: World, options: SupervisionIn | None, seed: str = "sup-1") -> dict[str, Any]:
    req = PlanRequest.model_validate(
        {"month": MONTH, "province": "42", "ratios": RATIOS, "seed": seed, "mode": "test",
         "supervision": None if options is None else options.model_dump(mode="json")},
        strict=False,
    )  # fmt: skip
    made = make_plan(world.lake, req, OPERATOR, now=NOW)
    plan: dict[str, Any] = json.loads(made.stored)
    return plan


def test_lists_are_strata_of_their_own_and_exits_are_recorded(world: World) -> None:
    plan = _plan(world, SupervisionIn(whitelist_ratio=0.25))
    used = plan["supervision"]
    strata = {s["list"]: s for s in used["strata"]}
    assert strata["whitelist"] == {"list": "whitelist", "population": 40, "ratio": 0.25, "sampled": 10}
    assert strata["sandbox"] == {"list": "sandbox", "population": 10, "ratio": 0.0, "sampled": 0}
    exits = {(e["uscc"], e["list"], e["reason"]) for e in used["exits"]}
    assert exits == {(world.whitelist_d, "whitelist", "risk_class"),
                     (world.sandbox_overdue, "sandbox", "annual_report_overdue")}  # fmt: skip
    assert used["reinspection"] == {"excluded": 30, "by_class": 1, "by_warning": 0}
    drawn = [t["uscc"] for t in plan["targets"]]
    assert len(drawn) == len(set(drawn))
    assert not set(drawn) & set(world.sandbox) and not set(drawn) & set(world.inspected)
    assert len(set(drawn) & set(world.whitelist)) == 10
    # class strata lost the listed and the inspected entities (the exits and D re-inspection stay)
    classes = world.table["risk_class"].to_pylist()
    codes = world.table["uscc"].to_pylist()
    gone = set(world.whitelist) | set(world.sandbox) | set(world.inspected)
    for s in plan["strata"]:
        full = sum(1 for c in classes if c == s["risk_class"])
        left = sum(1 for u, c in zip(codes, classes, strict=True) if c == s["risk_class"] and u in gone)
        assert s["population"] == full - left, s
    assert plan["frame_size"] == world.table.num_rows
    assert verify_plan(world.lake, plan["plan_id"]).status == "match"


def test_the_default_whitelist_ratio_is_heilongjiangs_one_percent(world: World) -> None:
    plan = _plan(world, SupervisionIn())
    white = next(s for s in plan["supervision"]["strata"] if s["list"] == "whitelist")
    assert white["ratio"] == 0.01 and white["sampled"] == 1  # ceil(40 × 1 %)
    assert plan["request"]["supervision"]["whitelist_ratio"] == 0.01


def test_reinspection_settings_change_what_is_left_out(world: World) -> None:
    plan = _plan(world, SupervisionIn(lists=False, reinspect_classes=["A", "B", "D"]))
    assert plan["supervision"]["reinspection"] == {"excluded": 0, "by_class": 31, "by_warning": 0}
    assert plan["supervision"]["strata"] == [
        {"list": "whitelist", "population": 0, "ratio": 0.01, "sampled": 0},
        {"list": "sandbox", "population": 0, "ratio": 0.0, "sampled": 0},
    ]
    off = _plan(world, None)
    assert off["supervision"] is None


def test_a_warning_allows_a_second_inspection() -> None:
    raw = pa.table({
        "uscc": ["U1", "U2"], "name": ["a", "b"], "risk_class": ["B", "B"], "region_code": ["420100"] * 2,
        "industry_code": ["C10"] * 2, "entity_type": ["enterprise"] * 2, "cell_rank": [0, 1],
        "list_type": pa.array([None, None], pa.string()), "inspected": [True, True],
        "overdue": [False, False],
    })  # fmt: skip
    got = supervision.dispositions(raw, SupervisionIn(), frozenset({"U2"}))
    assert got["disposition"].to_pylist() == ["inspected_recently", "reinspect"]
    assert got["reason"].to_pylist() == [None, "by_warning"]
    never = supervision.dispositions(raw, SupervisionIn(reinspect_warning_severity="never"), frozenset())
    assert never["disposition"].to_pylist() == ["inspected_recently"] * 2
    # whitelisted and inspected: left out, unless a warning demands it (then it stays in its list)
    listed = raw.set_column(7, "list_type", pa.array(["whitelist", "whitelist"], pa.string()))
    got = supervision.dispositions(listed, SupervisionIn(), frozenset({"U2"}))
    assert got["disposition"].to_pylist() == ["inspected_recently", "whitelist"]
    assert got["list_type"].to_pylist() == [None, "whitelist"]


def test_verify_detects_a_changed_supervision_member(world: World) -> None:
    plan = _plan(world, SupervisionIn(whitelist_ratio=0.25), seed="sup-2")
    key = f"plans/42/{plan['plan_id']}.json"
    for change in ("digest", "exits"):
        forged = json.loads(json.dumps(plan))
        if change == "digest":
            forged["supervision"]["digest"] = "sha256:" + "0" * 64
        else:
            forged["supervision"]["exits"] = []
        forged["plan_id"] = plan["plan_id"][:-1] + ("0" if plan["plan_id"][-1] != "0" else "1")
        world.lake.write_bytes(key.replace(plan["plan_id"], forged["plan_id"]), json.dumps(forged).encode())
        out = verify_plan(world.lake, forged["plan_id"])
        assert out.status == "mismatch" and "supervision" in out.differences, (change, out)
        world.lake.delete(key.replace(plan["plan_id"], forged["plan_id"]))


def test_a_task_fixes_the_set_at_registration_and_counts_the_exclusions(world: World) -> None:
    from functions.sampling.signing import HmacSigner

    signer = HmacSigner(b"k" * 32)
    region = {"region_prefix": "4201"}
    body = {"month": MONTH, "province": "42", "ratios": RATIOS, "window": {"start": "2026-11-06",
            "end": "2026-12-15"}, **region, "supervision": {"whitelist_ratio": 0.5}}  # fmt: skip
    task = register_task(
        world.lake, TaskRequest.model_validate(body, strict=False), OPERATOR, signer, now=NOW
    )
    in_region = [u for u in world.inspected if _row(world.table, u)["region_code"].startswith("4201")]
    assert task["exclusions"]["inspected_recently"] == len(in_region) > 0
    assert task["supervision_set"]["digest"].startswith("sha256:")
    # a later upload does not change the task's draw: the set was fixed at registration
    late = {"inspection_id": "late", "uscc": world.whitelist[0], "inspected_on": "2026-10-20",
            "domain": "food", "result": "no_problem"}  # fmt: skip
    curate(
        world.lake, "inspections", "42", [late], ingest_id="insp-late", ingested_at=NOW - dt.timedelta(days=1)
    )
    made = draw_task(world.lake, task["task_id"], DrawRequest(), OPERATOR, signer, now=NOW)
    plan = json.loads(made.stored)
    assert plan["supervision"]["digest"] == task["supervision_set"]["digest"]
    assert plan["exclusions"] == task["exclusions"]
    white = next(s for s in plan["supervision"]["strata"] if s["list"] == "whitelist")
    listed_here = [u for u in world.whitelist if _row(world.table, u)["region_code"].startswith("4201")]
    assert white["population"] == len(listed_here) and white["ratio"] == 0.5
    assert all(t["region_code"].startswith("4201") for t in plan["targets"])
    assert verify_plan(world.lake, plan["plan_id"], signer).status == "match"
