"""The monthly classification writes the professional-field results beside the general one, and
a sampling request or task that names a field draws from the field's population by its sampling
class (the stricter of the general and the field class), reproducibly (docs/adr/0117, 0118)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from chalice.test import Client

import app as app_module
from functions import layout
from functions.auth import tokens
from functions.classify.fields import combined
from functions.classify.run import classify_all
from functions.lake import Lake
from functions.sampling.verify import verify_plan
from functions.settings import Settings
from tests.classify_data import code, entity, write_curated
from tests.sampling_data import roster

MONTH = "2026-06"
D = dt.date
ALL = {"A": 1.0, "B": 1.0, "C": 1.0, "D": 1.0}


def _data() -> dict[str, list[dict[str, Any]]]:
    """60 entities: every third one holds a food licence, every fifth has a food penalty (some of
    those unlicensed), every seventh a serious-dishonesty listing (general C, food at least C)."""
    ents = [entity(n) for n in range(60)]
    lic = [
        {"licence_no": f"L{n}", "uscc": code(n), "licence_type": "food_business", "valid_from": D(2023, 1, 1)}
        for n in range(0, 60, 3)
    ]
    pen = [
        {"decision_no": f"P{n}", "uscc": code(n), "decided_on": D(2026, 2, 1), "authority": "局",
         "domain": "food", "kind": "fine", "amount": 5000.0}
        for n in range(0, 60, 5)
    ]  # fmt: skip
    sdl = [
        {"record_id": f"S{n}", "uscc": code(n), "listed_on": D(2025, 6, 1), "reason": "严重违法"}
        for n in range(0, 60, 7)
    ]
    return {"entities": ents, "licences": lic, "penalties": pen, "serious_dishonesty_list": sdl}


@dataclass
class World:
    client: Client
    lake: Lake
    token: str
    summary: dict[str, Any]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One classified lake for the module (the monthly classification is the expensive part)."""
    settings = Settings(lake_uri=str(tmp_path_factory.mktemp("field-sampling") / "lake"))
    lake = Lake.from_uri(settings.lake_uri)
    for dataset, rows in _data().items():
        write_curated(lake, dataset, rows)
    roster(lake, "13")
    summary = classify_all(
        lake, month=MONTH, settings=settings, cutoff=dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CREDITRISK_LAKE_URI", settings.lake_uri)
        app_module.reset()
        token, _ = tokens.issue_token(lake, name="platform-13", provinces=["13"])
        with Client(app_module.app) as client:
            yield World(client, lake, token, summary)
        app_module.reset()


def _post(w: World, path: str, body: dict[str, Any]) -> Any:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {w.token}"}
    return w.client.http.post(path, headers=headers, body=json.dumps(body).encode())


def test_monthly_classification_writes_every_field(world: World) -> None:
    entry = world.summary["provinces"]["13"]
    assert entry["status"] == "published"
    assert set(entry["fields"]) == {"food", "drug", "special_equipment", "industrial_product"}
    food = entry["fields"]["food"]
    # licensed (20) or with a food record (12, of which 4 also licensed): 28 in the population
    assert sum(food["counts"].values()) == 28 and food["model"] == "food@1.1"
    assert sum(entry["fields"]["drug"]["counts"].values()) == 0  # nobody is in the drug field
    for name, info in entry["fields"].items():
        pointer = world.lake.read_json(layout.field_classification_pointer_key(name, MONTH, "13"))
        assert pointer["run_id"] == info["run_id"] and pointer["general_run_id"] == entry["run_id"]


def test_a_field_plan_draws_the_field_population_by_sampling_class(world: World) -> None:
    view = {r["uscc"]: r for r in combined(world.lake, MONTH, "13").to_pylist()}
    population = {u for u, r in view.items() if r["food_class"] is not None}
    r = _post(world, "/v1/sampling/plans", {"month": MONTH, "province": "13", "mode": "test",
                                            "ratios": ALL, "seed": "s", "frame_field": "food"})  # fmt: skip
    assert r.status_code == 201, r.body
    plan = json.loads(r.body)
    assert plan["run_id"] == world.summary["provinces"]["13"]["fields"]["food"]["run_id"]
    assert plan["model"] == "food@1.1" and plan["frame_size"] == len(population) == 28
    assert {t["uscc"] for t in plan["targets"]} == population
    for t in plan["targets"]:
        assert t["risk_class"] == view[t["uscc"]]["food_sampling_class"]
    strata = {s["risk_class"]: s["population"] for s in plan["strata"]}
    expected = {c: sum(1 for u in population if view[u]["food_sampling_class"] == c) for c in "ABCD"}
    assert strata == expected and expected["C"] > 0  # the listed entities are at least C
    # a listed entity that is general C but field-licensed and clean is drawn as C in the field
    listed = code(21)  # licensed (21 % 3 == 0), listed (21 % 7 == 0), no food penalty
    assert view[listed]["general_class"] == "C" and view[listed]["food_sampling_class"] == "C"
    from functions.sampling.signing import signer_from_settings

    signer = signer_from_settings(Settings(lake_uri=world.lake.root), world.lake)
    checked = verify_plan(world.lake, plan["plan_id"], signer)
    assert checked.status == "match", checked
    general = json.loads(
        _post(
            world,
            "/v1/sampling/plans",
            {"month": MONTH, "province": "13", "mode": "test", "ratios": ALL, "seed": "s"},
        ).body
    )
    assert general["frame_size"] == 60 and general["model"].startswith("samr-general@")


def test_a_field_task_fixes_the_field_frame(world: World) -> None:
    task = json.loads(
        _post(
            world,
            "/v1/sampling/tasks",
            {
                "month": MONTH,
                "province": "13",
                "field": "food",
                "frame_field": "food",
                "ratios": {"C": 1.0},
                "window": {"start": "2026-07-01", "end": "2026-08-31"},
            },
        ).body
    )
    food_run = world.summary["provinces"]["13"]["fields"]["food"]["run_id"]
    assert task["run_id"] == food_run and task["frame_field"] == "food" and task["frame_size"] == 28
    r = _post(world, f"/v1/sampling/tasks/{task['task_id']}/plans", {})
    assert r.status_code == 201, r.body
    plan = json.loads(r.body)
    assert plan["run_id"] == food_run and plan["request"]["frame_field"] == "food"
    assert plan["targets"] and all(t["risk_class"] == "C" for t in plan["targets"])


def test_a_field_not_classified_that_month_is_a_clear_404(world: World) -> None:
    r = _post(world, "/v1/sampling/plans", {"month": "2026-05", "province": "13", "mode": "test",
                                            "ratios": ALL, "frame_field": "food"})  # fmt: skip
    # the general month is not published either: the field pointer is looked up first
    assert r.status_code == 404 and json.loads(r.body)["field"] == "frame_field"
    bad = _post(world, "/v1/sampling/plans", {"month": MONTH, "province": "13", "mode": "test",
                                              "ratios": ALL, "frame_field": "toys"})  # fmt: skip
    assert bad.status_code in (400, 422)


def _task(w: World, region: str, frame_field: str | None) -> Any:
    body = {"month": MONTH, "province": "13", "region_prefix": region, "ratios": {"C": 1.0},
            "window": {"start": "2026-07-01", "end": "2026-08-31"}}  # fmt: skip
    return _post(
        w, "/v1/sampling/tasks", body if frame_field is None else {**body, "frame_field": frame_field}
    )


def test_a_field_population_has_its_own_task_slot(world: World) -> None:
    """Same month, inspection field and region: the general and the food population are two
    tasks (docs/adr/0141); a second of either is refused."""
    general, food = _task(world, "1310", None), _task(world, "1310", "food")
    assert general.status_code == food.status_code == 201, (general.body, food.body)
    assert json.loads(food.body)["frame_field"] == "food"
    again = _task(world, "1310", "food")
    assert again.status_code == 409 and json.loads(food.body)["task_id"] in json.loads(again.body)["message"]
    assert "population food" in json.loads(again.body)["message"]
    assert _task(world, "1310", None).status_code == 409


def _old_food_task(w: World, region: str) -> dict[str, Any]:
    """A food-population task laid out as the code before ADR 0141 left it: the task stored as
    ever, its slot marker under the key of (month, inspection field, region) alone, spelt out
    here as that code computed it (no population in it)."""
    created = _task(w, region, "food")
    assert created.status_code == 201, created.body
    task: dict[str, Any] = json.loads(created.body)
    slots = layout.task_slots_prefix("13")
    (marker,) = [f.key for f in w.lake.list_files(slots, include_hidden=True)
                 if json.loads(w.lake.read_bytes(f.key))["task_id"] == task["task_id"]]  # fmt: skip
    old_slot = hashlib.sha256(f"{MONTH}||{region}".encode()).hexdigest()[:32]
    w.lake.write_bytes(layout.task_index_key("13", old_slot), w.lake.read_bytes(marker), if_none_match=True)
    w.lake.delete(marker)
    return task


def test_a_field_task_registered_under_the_old_slot_key_still_holds_its_slot(world: World) -> None:
    """Before ADR 0141 a food-population task claimed the general key: it is still found (no
    second food task), and it is drawn and verified as before."""
    from functions.sampling.signing import signer_from_settings

    task = _old_food_task(world, "131000")
    again = _task(world, "131000", "food")
    assert again.status_code == 409 and task["task_id"] in json.loads(again.body)["message"]
    drawn = _post(world, f"/v1/sampling/tasks/{task['task_id']}/plans", {})
    assert drawn.status_code == 201, drawn.body
    signer = signer_from_settings(Settings(lake_uri=world.lake.root), world.lake)
    result = verify_plan(world.lake, json.loads(drawn.body)["plan_id"], signer)
    assert result.ok and result.status == "match", result.message


def test_an_old_field_task_no_longer_blocks_the_general_task_of_its_slot(world: World) -> None:
    """The old food task holds the general key, yet the general population's task registers
    beside it, once (docs/adr/0151); the food task stays readable, drawable and verified, and the
    chain is whole."""
    from functions.sampling import audit, tasks
    from functions.sampling.repair import repair
    from functions.sampling.signing import signer_from_settings

    food = _old_food_task(world, "13100")
    general = _task(world, "13100", None)
    assert general.status_code == 201, general.body
    gen = json.loads(general.body)
    assert gen["task_id"] != food["task_id"] and gen["frame_field"] is None
    again = _task(world, "13100", None)
    assert again.status_code == 409 and gen["task_id"] in json.loads(again.body)["message"]
    refused = _task(world, "13100", "food")
    assert refused.status_code == 409 and food["task_id"] in json.loads(refused.body)["message"]
    assert tasks.load_task(world.lake, food["task_id"])["frame_field"] == "food"
    signer = signer_from_settings(Settings(lake_uri=world.lake.root), world.lake)
    for task in (food, gen):
        drawn = _post(world, f"/v1/sampling/tasks/{task['task_id']}/plans", {})
        assert drawn.status_code == 201, drawn.body
        result = verify_plan(world.lake, json.loads(drawn.body)["plan_id"], signer)
        assert result.ok and result.status == "match", result.message
    assert audit.check_chain(world.lake, signer, "13").problems == []
    assert repair(world.lake, signer, "13", "cli:test", dry_run=True).actions == []  # nothing left half-done


def test_approved_adjustments_reach_the_field_frame_combined_with_the_field_class(world: World) -> None:
    """ADR 0145: an approved adjustment changes the general class a field draw combines with the
    field class (the stricter of the two), at once, as the same recorded overlay as a general
    draw; ``plan verify`` re-applies it, and a field plan drawn before the approval still
    verifies. Runs last in the module: it approves adjustments in the shared lake."""
    from functions.objections import adjust
    from functions.sampling import overlay
    from schemas.objections import Actor

    view = {r["uscc"]: r for r in combined(world.lake, MONTH, "13").to_pylist()}
    food = {u: r for u, r in view.items() if r["food_class"] is not None}
    body = {
        "month": MONTH,
        "province": "13",
        "mode": "test",
        "ratios": ALL,
        "seed": "adj",
        "frame_field": "food",
    }
    before = json.loads(_post(world, "/v1/sampling/plans", body).body)
    assert before["adjustments"] is None
    # up: general A → D makes the field sampling class D; down: general C → A leaves it at the
    # field class C (the stricter of A and C), where the adjusted class alone would say A
    up = next(u for u, r in sorted(food.items()) if r["food_sampling_class"] == "A")
    down = next(u for u, r in sorted(food.items()) if r["general_class"] == r["food_class"] == "C")
    outside = next(u for u in sorted(view) if u not in food)
    li, wang = Actor(kind="operator", id="li", name="li"), Actor(kind="operator", id="wang", name="wang")
    for uscc, to in ((up, "D"), (down, "A"), (outside, "D")):
        a = adjust.propose(world.lake, uscc, MONTH, to, "核查后调整", li)
        adjust.decide(world.lake, MONTH, a.adjustment_id, wang, approve=True)
    snapshot = overlay.current(world.lake, MONTH, "13")
    assert snapshot is not None and len(snapshot.classes) == 3

    after = json.loads(_post(world, "/v1/sampling/plans", body).body)
    assert after["adjustments"] == {"digest": snapshot.digest, "adjustments": 3, "applied": 1}
    assert after["frame_size"] == before["frame_size"] == len(food)  # the outsider stays outside
    drawn = {t["uscc"]: t["risk_class"] for t in after["targets"]}
    assert set(drawn) == set(food)
    assert drawn[up] == "D"
    assert drawn[down] == "C"
    others = {u: c for u, c in drawn.items() if u != up}
    assert others == {u: food[u]["food_sampling_class"] for u in others}
    strata = {s["risk_class"]: s["population"] for s in after["strata"]}
    assert strata == {c: sum(1 for v in drawn.values() if v == c) for c in "ABCD"}
    assert verify_plan(world.lake, after["plan_id"]).status == "match"
    assert verify_plan(world.lake, before["plan_id"]).status == "match"  # drawn without: replays without

    # a field task fixes the snapshot at registration and draws by it
    task = json.loads(_task(world, "131", "food").body)
    assert task["frame_field"] == "food"
    plan = json.loads(_post(world, f"/v1/sampling/tasks/{task['task_id']}/plans", {}).body)
    assert plan["adjustments"]["digest"] == snapshot.digest
    assert all(t["risk_class"] == "C" for t in plan["targets"])
    from functions.sampling.signing import signer_from_settings

    signer = signer_from_settings(Settings(lake_uri=world.lake.root), world.lake)
    checked = verify_plan(world.lake, plan["plan_id"], signer)
    assert checked.status == "match", checked

    # a field run published after the approvals: its frame keeps the model's combination (the
    # draw applies the snapshot), never the adjusted general class in place of the stricter one
    settings = Settings(lake_uri=world.lake.root)
    again = classify_all(
        world.lake, month=MONTH, settings=settings, cutoff=dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
    )
    run = again["provinces"]["13"]["fields"]["food"]["run_id"]
    frame = world.lake.read_parquet(layout.run_classifications_key(run), columns=["uscc", "risk_class"])
    copy = world.lake.read_parquet(
        layout.sampling_frame_key(MONTH, "13", run), columns=["uscc", "risk_class"]
    )
    classes = dict(zip(copy["uscc"].to_pylist(), copy["risk_class"].to_pylist(), strict=True))
    assert classes == dict(zip(frame["uscc"].to_pylist(), frame["risk_class"].to_pylist(), strict=True))
    assert classes[down] == "C" and classes[up] == "A"
    redrawn = json.loads(_post(world, "/v1/sampling/plans", body).body)
    assert redrawn["run_id"] == run and redrawn["adjustments"]["applied"] == 1
    assert {t["uscc"]: t["risk_class"] for t in redrawn["targets"]} == drawn
