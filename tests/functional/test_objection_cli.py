"""``creditrisk objection`` and ``creditrisk adjust`` in a real subprocess: an objection from
receipt to upheld with a correction run, one rejected, an overdue one listed, a manual adjustment
approved by a second person and shown by ``explain`` (issue 14; exit statuses per ADR 0089)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from functions import layout
from functions.lake import Lake
from functions.objections.overdue import RULE_ID, sync_overdue_warnings
from functions.warnings import store
from tests.classify_data import code, entity, write_curated
from tests.unit.test_classify_fields import lic

Run = Callable[..., tuple[int, str, str]]
MONTH = "2026-06"
CUT = "2026-07-05T00:00:00"


@pytest.fixture(scope="module")
def classified_once(tmp_path_factory: pytest.TempPathFactory, run_cli: Run) -> Path:
    """The classified lake, made once per module (one ``classify`` subprocess, not one per test)."""
    root = tmp_path_factory.mktemp("objection-cli") / "lake"
    lake = Lake.from_uri(str(root))
    write_curated(lake, "entities", [entity(1), entity(2), entity(3, status="revoked")])
    write_curated(lake, "licences", [lic(1, 1, "food_business")])  # entity 1 is in the food field
    status, _, err = run_cli("--lake", lake.uri, "classify", "--month", MONTH, "--cutoff", CUT)
    assert status == 0, err
    return root


@pytest.fixture
def classified(local_lake: Lake, classified_once: Path) -> Lake:
    """A fresh copy per test: each test changes its lake."""
    shutil.copytree(classified_once, local_lake.uri, dirs_exist_ok=True)
    return local_lake


def _register(lake: Lake, run_cli: Run, received: str = "2026-07-06") -> dict[str, object]:
    status, out, err = run_cli(
        "--lake",
        lake.uri,
        "objection",
        "register",
        "--uscc",
        code(1),
        "--month",
        MONTH,
        "--received",
        received,
        "--record",
        "penalties:PEN-1",
        "--by",
        "li",
        "--json",
    )
    assert status == 0, err
    made: dict[str, object] = json.loads(out)
    return made


def test_upheld_with_a_correction_run_then_listed_as_decided_late(classified: Lake, run_cli: Run) -> None:
    lake = classified
    first_run = lake.read_json(layout.classification_pointer_key(MONTH, "13"))["run_id"]
    made = _register(lake, run_cli)
    oid = str(made["objection_id"])
    assert made["due_on"] == "2026-07-13" and made["status"] == "received"
    for step in ("accept", "check"):
        status, _, err = run_cli("--lake", lake.uri, "objection", step, oid, "--by", "li")
        assert status == 0, err
    status, out, err = run_cli(
        "--lake",
        lake.uri,
        "objection",
        "decide",
        oid,
        "--upheld",
        "--correction-record",
        "penalties:PEN-1",
        "--reason",
        "penalty annulled on appeal",
        "--by",
        "wang",
    )
    assert status == 0, err
    pointer = lake.read_json(layout.classification_pointer_key(MONTH, "13"))
    assert pointer["supersedes"] == first_run and pointer["correction"] == {
        "objection_id": oid,
        "uscc": code(1),
    }
    manifest = lake.read_json(f"{layout.run_prefix(pointer['run_id'])}/manifest.json")
    assert manifest["correction"]["objection_id"] == oid
    assert lake.exists(f"{layout.run_prefix(first_run)}/manifest.json")  # the earlier run is kept
    # the food field's class is re-derived from the corrected general run, not left on the first
    food = lake.read_json(layout.field_classification_pointer_key("food", MONTH, "13"))
    assert food["general_run_id"] == pointer["run_id"] != first_run
    assert f"run {pointer['run_id']}" in out and "upheld OVERDUE" in out  # decided long after 13 July
    status, out, err = run_cli("--lake", lake.uri, "objection", "list", "--province", "13", "--overdue")
    assert status == 0 and oid in out and "warning" not in err  # decided, so no warning


def test_rejected_needs_a_reason_and_undecided_overdue_ones_warn(classified: Lake, run_cli: Run) -> None:
    lake = classified
    oid = str(_register(lake, run_cli)["objection_id"])
    status, _, err = run_cli("--lake", lake.uri, "objection", "decide", oid, "--rejected", "--by", "wang")
    assert status == 1 and "next step is accepted" in err  # a conflict: not checked yet
    status, out, err = run_cli("--lake", lake.uri, "objection", "list", "--province", "13", "--overdue")
    assert status == 0 and oid in out and "1 objection(s) undecided past" in err
    for step in ("accept", "check"):
        assert run_cli("--lake", lake.uri, "objection", step, oid, "--by", "li")[0] == 0
    status, _, err = run_cli("--lake", lake.uri, "objection", "decide", oid, "--rejected", "--by", "wang")
    assert status == 2 and "reason" in err
    # the monthly follow-up raised the overdue warning; the decision resolves it (ADR 0121)
    assert sync_overdue_warnings(lake, "13", now=dt.datetime.now(dt.UTC)) == {"raised": 1, "resolved": 0}
    status, out, _ = run_cli(
        "--lake",
        lake.uri,
        "objection",
        "decide",
        oid,
        "--rejected",
        "--reason",
        "records verified",
        "--by",
        "wang",
    )
    assert status == 0 and "rejected" in out
    warning = store.load_warnings(lake, MONTH, "13", rule=RULE_ID).to_pylist()
    assert [(w["state"], w["state_by"], w["fact"]) for w in warning] == [("resolved", "wang", oid)]
    assert run_cli("--lake", lake.uri, "objection", "show", "13-" + "0" * 16)[0] == 1


def test_manual_adjustment_needs_a_second_person(classified: Lake, run_cli: Run) -> None:
    lake = classified
    row = next(
        r
        for r in lake.read_parquet(layout.classification_key(MONTH, "13")).to_pylist()
        if r["uscc"] == code(2)
    )
    to = "C" if row["risk_class"] != "C" else "B"
    status, out, err = run_cli(
        "--lake",
        lake.uri,
        "adjust",
        "propose",
        "--uscc",
        code(2),
        "--month",
        MONTH,
        "--to",
        to,
        "--reason",
        "on-site finding",
        "--by",
        "li",
    )
    assert status == 0, err
    aid = out.split()[0]
    status, _, err = run_cli("--lake", lake.uri, "adjust", "approve", aid, "--month", MONTH, "--by", "li")
    assert status == 1 and "different person" in err
    status, out, err = run_cli("--lake", lake.uri, "adjust", "approve", aid, "--month", MONTH, "--by", "wang")
    assert status == 0 and "approved by wang" in out, err
    status, out, _ = run_cli("--lake", lake.uri, "explain", "--uscc", code(2), "--month", MONTH)
    assert status == 0
    assert (
        f"class {row['risk_class']}" in out
        and f"MANUALLY ADJUSTED to class {to} (model class {row['risk_class']})" in out
    )


def test_reclassify_does_not_run_beside_a_running_worker(classified: Lake, run_cli: Run) -> None:
    """ADR 0144: the corrections worker claimed the run (``correction_started``) and is still
    within its lease: ``objection reclassify`` starts no second run and exits 1 saying so."""
    from functions.objections.trail import append

    lake = classified
    oid = str(_register(lake, run_cli)["objection_id"])
    for step in ("accept", "check"):
        assert run_cli("--lake", lake.uri, "objection", step, oid, "--by", "li")[0] == 0
    decide = ["decide", oid, "--upheld", "--correction-record", "penalties:PEN-1", "--reason", "annulled"]
    status, _, err = run_cli("--lake", lake.uri, "objection", *decide, "--no-reclassify", "--by", "wang")
    assert status == 0, err
    published = lake.read_json(layout.classification_pointer_key(MONTH, "13"))["run_id"]
    worker = {"kind": "system", "id": "corrections", "name": "correction worker"}
    at = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=120)).isoformat(timespec="seconds")
    claim = {"step": "correction_started", "at": at, "by": worker, "attempt": 1}
    append(lake, layout.objection_prefix(oid), claim, expected_seq=5)
    status, _, err = run_cli("--lake", lake.uri, "objection", "reclassify", oid, "--by", "wang")
    assert status == 1 and "correction worker" in err and "Traceback" not in err, err
    assert lake.read_json(layout.classification_pointer_key(MONTH, "13"))["run_id"] == published
    status, out, _ = run_cli("--lake", lake.uri, "objection", "show", oid)
    assert status == 0 and f"correction: running, claimed at {at}" in out, out
    # the lease is the setting (ADR 0155): shorter than the claim's age, the claim is a dead
    # worker's, shown stalled with when it was made, and taken over
    short = {"CREDITRISK_CORRECTION_LEASE_SECONDS": "60"}
    status, out, _ = run_cli("--lake", lake.uri, "objection", "list", "--province", "13", "--json", env=short)
    assert status == 0, out
    (listed,) = json.loads(out)
    assert (listed["correction_status"], listed["correction_claimed_at"]) == ("stalled", at)
    status, out, err = run_cli(
        "--lake", lake.uri, "objection", "reclassify", oid, "--by", "wang", "--json", env=short
    )
    assert status == 0, err
    done = json.loads(out)
    assert done["correction_status"] == "done" and done["correction_run_id"] != published
