"""``creditrisk plan verify`` on official plans (docs/adr/0095): every stored member, the task,
the chain and the head's signature are checked; any change exits 1.

Each exit status and flag goes through a real subprocess; the matrices of single changes run
``verify_plan`` in-process with the signer the command builds (the command prints its result and
exits 1 whenever it is not ok, which the subprocess cases prove): one interpreter start-up per case
cost ~1 CPU-s (docs/adr/0159)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from functions import layout
from functions.auth.tokens import Principal
from functions.lake import Lake
from functions.sampling import audit
from functions.sampling.service import compute, make_plan
from functions.sampling.signing import HmacSigner, signer_from_settings
from functions.sampling.tasks import draw_task, load_task, register_task, task_frame
from functions.sampling.verify import staffing_of, verify_plan
from functions.settings import Settings
from schemas.api import DrawRequest, PlanRequest, TaskRequest
from tests.page_index_data import index_of, merged_and_split
from tests.sampling_data import AUDIT_KEY, publish, results_table

ROOT = Path(__file__).resolve().parents[2]
MONTH = "2026-10"
PAGED = 2_000  # answer limit of the paged draw: its plan gets a page index


@dataclass(frozen=True)
class World:
    lake: Lake
    root: Path
    key_file: Path
    task_id: str
    plan_id: str
    redraw_id: str
    paged_id: str  # a redraw stored with a page index (its answer limit made small, ADR 0162)


def verify(world: World, plan_id: str, key_file: Path | None = None, *more: str) -> tuple[int, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CREDITRISK_")}
    env = {**clean, "CREDITRISK_AUDIT_KEY_FILE": str(key_file or world.key_file)}
    proc = subprocess.run(
        [sys.executable, "-m", "functions.cli", "--lake", str(world.root), "plan", "verify", plan_id, *more],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc.returncode, proc.stdout + proc.stderr


def verified(world: World, plan_id: str) -> tuple[bool, str]:
    """What ``verify`` checks, in this process: ``verify_plan`` with the signer ``plan verify``
    builds from ``CREDITRISK_AUDIT_KEY_FILE``; (ok, the line the command prints after the id)."""
    signer = signer_from_settings(Settings(audit_key_file=str(world.key_file)), world.lake)
    result = verify_plan(world.lake, plan_id, signer)
    return result.ok, f"{result.status} — {result.message}"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("official")
    lake = Lake.from_uri(str(root / "lake"))
    publish(lake, results_table("42", 1500, run_id="run-1"), MONTH, "42")
    key_file = root / "audit.key"
    key_file.write_text("ab" * 32)
    signer = HmacSigner(bytes.fromhex("ab" * 32))
    who = Principal("tok1", "platform-42", frozenset({"42"}))
    req = TaskRequest.model_validate(
        {"month": MONTH, "province": "42", "ratios": {"B": 0.05, "D": 0.3},
         "window": {"start": "2026-11-01", "end": "2026-11-30"}}, strict=False,
    )  # fmt: skip
    task = register_task(lake, req, who, signer)
    first = draw_task(lake, task["task_id"], DrawRequest(), who, signer)
    second = draw_task(lake, task["task_id"], DrawRequest(reason="scope_error"), who, signer)
    paged = draw_task(lake, task["task_id"], DrawRequest(reason="system_failure"), who, signer,
                      max_answer_bytes=PAGED)  # fmt: skip
    yield World(lake, root / "lake", key_file, task["task_id"], first.plan_id, second.plan_id, paged.plan_id)


def _edit(path: Path, change: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
    """Apply ``change`` to the JSON file; returns the undo."""
    original = path.read_bytes()
    doc = json.loads(original)
    change(doc)
    path.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    return lambda: path.write_bytes(original)


def _plan_path(world: World, plan_id: str) -> Path:
    return world.root / layout.plan_key("42", plan_id)


def test_untouched_official_plans_verify(world: World) -> None:
    for plan_id in (world.plan_id, world.redraw_id):
        code, out = verify(world, plan_id)
        assert code == 0 and ": match" in out, out


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for p in parents:
            doc = doc[p]
        doc[last] = value

    return change


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (_set("month", "2026-09"), "stored_plan"),
        (_set("caller.name", "someone-else"), "stored_plan"),
        (_set("created_at", "2026-10-01T00:00:00.000+00:00"), "stored_plan"),
        (_set("seed", "00" * 32), "seed"),
        (_set("commitment", "11" * 32), "commitment"),
        (_set("reveal", "22" * 32), "reveal"),
        (_set("draw_no", 3), "reveal"),
        (_set("frame_digest", "33" * 32), "frame_digest"),
        (_set("run_id", "run-0"), "run_id"),
        (_set("supersedes", "42-0123456789abcdef0123"), "stored_plan"),
        (_set("request.ratios", {"D": 1.0}), "request.ratios"),
        (_set("exclusions", {"sandbox": 1}), "exclusions"),
        (_set("mode", "test"), "mode"),
        (lambda d: d.update(mode="test", task_id=None), "mode"),
        (lambda d: d["targets"].pop(), "targets"),
        (lambda d: d["strata"][1].update(sampled=0), "strata"),
    ],
)
def test_any_changed_member_exits_1(
    world: World, change: Callable[[dict[str, Any]], None], named: str
) -> None:
    undo = _edit(_plan_path(world, world.plan_id), change)
    try:
        ok, out = verified(world, world.plan_id)
        assert not ok and "mismatch" in out and named in out, out
    finally:
        undo()


def test_a_consistent_forgery_exits_1(world: World) -> None:
    """A new seed with exactly its targets, the chain record re-pointed and re-linked up to the
    head: only the head's signature (or the forger's own key) is left, and that is checked."""
    path = _plan_path(world, world.plan_id)
    original = path.read_bytes()
    plan = json.loads(original)
    again = compute(PlanRequest.model_validate(plan["request"], strict=False),
                    task_frame(world.lake, load_task(world.lake, world.task_id)), "forged-seed",
                    *staffing_of(world.lake, plan))  # fmt: skip
    plan.update(seed="forged-seed", targets=again["targets"], strata=again["strata"])
    forged = json.dumps(plan, ensure_ascii=False, separators=(",", ":")).encode()
    chain_dir = world.root / "audit" / "42" / "chain"
    saved = {p: p.read_bytes() for p in chain_dir.iterdir()}
    head_path = world.root / layout.audit_head_key("42")
    head_saved = head_path.read_bytes()
    try:
        path.write_bytes(forged)
        code, out = verify(world, world.plan_id)
        assert code == 1 and "stored_plan" in out and "seed" in out, out
        # rewrite the chain consistently: the plan's record points at the forgery, links re-made
        prev = audit.GENESIS
        for p in sorted(chain_dir.iterdir()):
            rec = json.loads(p.read_bytes())
            if rec["ref"] == world.plan_id:
                rec["subject"] = audit.sha256(forged)
            rec["prev"] = prev
            rec["digest"] = audit.record_digest(rec)
            prev = rec["digest"]
            p.write_bytes(audit.canonical(rec))
        head = json.loads(head_saved)
        head["digest"] = prev
        head_path.write_bytes(audit.canonical(head))
        code, out = verify(world, world.plan_id)
        assert code == 1 and "signature" in out, out
        # … and signed with the forger's own key: not the deployment's key
        mine = HmacSigner(b"\x01" * 32)
        head.update(key_id=mine.key_id, signature=mine.sign(audit.head_message("42", head["seq"], prev)))
        head_path.write_bytes(audit.canonical(head))
        code, out = verify(world, world.plan_id)
        assert code == 1 and "signature" in out, out
        forger_key = world.root.parent / "forger.key"
        forger_key.write_text("01" * 32)
        code, out = verify(world, world.plan_id, key_file=forger_key)  # even verified with the forger's key
        assert code == 1 and "seed" in out, out  # the seed still does not come from the reveal
    finally:
        path.write_bytes(original)
        for p, data in saved.items():
            p.write_bytes(data)
        head_path.write_bytes(head_saved)
    assert verify(world, world.plan_id)[0] == 0


def test_chain_and_signature_changes_exit_1(world: World) -> None:
    chain_dir = world.root / "audit" / "42" / "chain"
    first = sorted(chain_dir.iterdir())[0]
    head = world.root / layout.audit_head_key("42")
    task = world.root / layout.task_key("42", world.task_id)
    cases: list[tuple[Path, Callable[[dict[str, Any]], None], str]] = [
        (first, _set("at", "2020-01-01T00:00:00.000+00:00"), "digest does not match"),
        (first, _set("subject", "44" * 32), "digest does not match"),
        (head, _set("signature", "55" * 32), "signature"),
        (head, _set("seq", 1), "not the last record"),
        (task, _set("ratios", {"B": 0.05, "D": 0.3, "A": 0.0}), "task"),
        (task, _set("commitment", "66" * 32), "task"),
    ]
    for path, change, says in cases:
        undo = _edit(path, change)
        try:
            ok, out = verified(world, world.plan_id)
            assert not ok and says in out, (path.name, out)
        finally:
            undo()
    removed = head.read_bytes()
    head.unlink()
    try:
        code, out = verify(world, world.redraw_id)  # the command's exit status on a chain failure
        assert code == 1 and "no signed head" in out, out
    finally:
        head.write_bytes(removed)
    assert verified(world, world.redraw_id)[0]


def test_without_the_signer_an_official_plan_is_unverifiable(world: World, tmp_path: Path) -> None:
    missing = tmp_path / "nothing.key"
    code, out = verify(world, world.plan_id, key_file=missing)
    assert code == 1 and "unverifiable" in out and "audit signer" in out, out


def test_full_checks_every_record_and_exits_1_on_any_change(world: World) -> None:
    """``--full`` reads the whole chain (the default walks to the nearest signed checkpoint or the
    head, ADR 0127; bounded reads are tested in tests/unit/test_sampling_audit.py)."""
    code, out = verify(world, world.redraw_id, None, "--full")
    assert code == 0 and ": match" in out, out
    undo = _edit(world.root / layout.audit_record_key("42", 2), _set("at", "2020-01-01T00:00:00.000+00:00"))
    try:
        for more in ((), ("--full",)):
            code, out = verify(world, world.redraw_id, None, *more)
            assert code == 1 and "record 2: digest does not match" in out, (more, out)
    finally:
        undo()


# -- the page index of a large plan (docs/adr/0162) ------------------------------------------------
def _record(world: World, plan_id: str) -> dict[str, Any]:
    found = audit.locate(world.lake, AUDIT_KEY, "42", audit.OFFICIAL_KINDS, plan_id)
    assert found.ok and len(found.records) == 1, found.problems
    return found.records[0]


def test_a_draw_records_its_page_index_digest_on_the_chain(world: World) -> None:
    index = world.lake.read_bytes(layout.plan_pages_key("42", world.paged_id))
    assert _record(world, world.paged_id)["page_index"] == hashlib.sha256(index).hexdigest()
    assert _record(world, world.plan_id)["page_index"] is None  # answered whole: no index
    assert not world.lake.exists(layout.plan_pages_key("42", world.plan_id))


def test_a_page_index_that_is_not_the_plans_exits_1(world: World) -> None:
    """Rewritten consistently (every run a GET reads lines up, ADR 0158), or removed."""
    key = layout.plan_pages_key("42", world.paged_id)
    original = world.lake.read_bytes(key)
    stored = world.lake.read_bytes(layout.plan_key("42", world.paged_id))
    code, out = verify(world, world.paged_id)
    assert code == 0 and ": match" in out and "page index as on the chain" in out, out
    try:
        world.lake.write_bytes(key, json.dumps(merged_and_split(stored, world.paged_id, 7)).encode())
        code, out = verify(world, world.paged_id)
        assert code == 1 and "mismatch" in out and "page_index" in out and "SHA-256 differs" in out, out
        assert "run 1 does not hold targets 7…13" in out, out
        world.lake.delete(key)
        code, out = verify(world, world.paged_id)
        assert code == 1 and "the page index its chain record names is missing" in out, out
    finally:
        world.lake.write_bytes(key, original)


def test_an_index_beside_a_plan_drawn_without_one_is_a_mismatch(world: World) -> None:
    key = layout.plan_pages_key("42", world.plan_id)
    stored = world.lake.read_bytes(layout.plan_key("42", world.plan_id))
    world.lake.write_bytes(key, json.dumps(index_of(stored, world.plan_id, 7)).encode())
    try:
        result = verify_plan(world.lake, world.plan_id, AUDIT_KEY)
        assert result.status == "mismatch" and "page_index" in result.differences, result
        assert "says was never written" in result.message
    finally:
        world.lake.delete(key)


def test_a_plan_chained_before_the_digest_keeps_verifying_on_its_bytes(world: World) -> None:
    """A record written before ADR 0162 carries no ``page_index``: the chain format is unchanged
    (``creditrisk-sampling-audit/1``), so the record verifies as it is, and the index is checked
    against the plan's bytes alone, which still catches the consistent forgery."""
    who = Principal("tok1", "platform-42", frozenset({"42"}))
    req = PlanRequest.model_validate({"month": MONTH, "province": "42", "ratios": {"D": 0.5},
                                      "seed": "old"}, strict=False)  # fmt: skip
    made = make_plan(world.lake, req, who, max_answer_bytes=PAGED)
    old_record = {"mode": "test", "seed_from": "caller"}  # as ``chain_test_plan`` wrote it before
    audit.append(
        world.lake, AUDIT_KEY, "42", "test_plan", made.plan_id, made.sha256, "2026-11-02", **old_record
    )
    assert audit.check_chain(world.lake, AUDIT_KEY, "42").ok  # records of both kinds, one chain
    result = verify_plan(world.lake, made.plan_id, AUDIT_KEY)
    assert result.ok and "drawn before its digest went on the chain" in result.message, result
    key = layout.plan_pages_key("42", made.plan_id)
    world.lake.write_bytes(key, json.dumps(merged_and_split(made.stored, made.plan_id, 7)).encode())
    result = verify_plan(world.lake, made.plan_id, AUDIT_KEY)
    assert result.status == "mismatch" and result.differences == ["page_index"], result
    assert "run 0 does not hold targets 0…6" in result.message
