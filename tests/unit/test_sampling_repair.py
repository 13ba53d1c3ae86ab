"""A writer that dies at any step of a task's life never blocks the audit chain (docs/adr/0140):
the next writer goes on, ``repair`` finishes (or sets aside) what was left, records itself, and
nothing already appended is lost or rewritten. Crashes come from :class:`CrashingLake`."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from functions import layout
from functions.errors import Conflict, StorageError
from functions.lake import Lake
from functions.sampling import audit
from functions.sampling.repair import repair
from functions.sampling.tasks import draw_task, load_draws, register_task
from functions.sampling.verify import verify_plan
from schemas.api import DrawRequest
from tests.crashing_lake import Crashed, CrashingLake
from tests.lake_policy import police
from tests.sampling_data import (
    AUDIT_KEY,
    LIFE_AT,
    WHO,
    life,
    publish_life,
    task_request,
)

REGIONS = ("4201", "420102", "4205", "420500", "4210", "421000", "420100", "42")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A published province, and how many writes one task's life makes."""
    root = tmp_path_factory.mktemp("repair") / "lake"
    lake = Lake.from_uri(str(root))
    publish_life(lake)
    counting = CrashingLake(Lake.from_uri(str(root.parent / "count")), None)
    shutil.copytree(root, root.parent / "count", dirs_exist_ok=True)
    life(counting, REGIONS[-1])
    return root, len(counting.written)


def _fresh(template: tuple[Path, int], tmp_path: Path) -> Lake:
    shutil.copytree(template[0], tmp_path / "lake")
    return Lake.from_uri(str(tmp_path / "lake"))


def _chain_bytes(lake: Lake) -> dict[str, bytes]:
    return {f.key: lake.read_bytes(f.key) for f in lake.list_files(layout.audit_chain_prefix("42"))}


def _plans(lake: Lake) -> list[str]:
    return [
        f.key.rsplit("/", 1)[-1].removesuffix(".json") for f in lake.list_files(layout.plans_prefix("42"))
    ]


def test_the_life_writes_in_the_documented_order(template: tuple[Path, int], tmp_path: Path) -> None:
    """The crash points below are every write of this sequence (ADR 0126, 0140)."""
    lake = CrashingLake(_fresh(template, tmp_path), None)
    life(lake, REGIONS[0])
    kinds = [k.split("/")[0] + "/" + k.split("/")[2] if k.startswith("audit/") else k.split("/")[0]
             for k in lake.written]  # fmt: skip
    assert kinds[:6] == ["_sampling", "tasks", "tasks", "audit/chain", "audit/head.json", "audit/refs"]
    assert kinds[6:11] == ["plans", "tasks", "audit/chain", "audit/head.json", "audit/refs"]
    assert len(lake.written) == template[1] == 20


@pytest.mark.parametrize("after", range(20))
def test_a_crash_at_any_write_never_blocks_and_repair_finishes_it(
    template: tuple[Path, int], tmp_path: Path, after: int
) -> None:
    _crash_and_recover(_fresh(template, tmp_path), after)


# after a slot claim, a record (sealed, beyond the head), a head (no index yet), a draw claim:
# the steps whose writes are conditional (the folder lake above covers every write)
@pytest.mark.parametrize("after", [3, 4, 5, 8])
def test_the_same_on_moto_s3_with_conditional_writes(s3_lake: Lake, after: int) -> None:
    """``If-None-Match: *`` / ``If-Match`` as S3 answers them (moto 5.2 enforces both), under the
    lake bucket's policy as deployed: the repair's set-aside copy and replaced record meet it
    too (docs/adr/0166)."""
    publish_life(s3_lake)
    policed = police(s3_lake)
    _crash_and_recover(s3_lake, after)
    assert [d for d in policed.decisions if d[3] == "deny"] == []
    assert any("/set-aside/" in d[1] or d[2].get("s3:if-match") for d in policed.decisions)


def _crash_and_recover(lake: Lake, after: int) -> None:
    life(lake, REGIONS[1])  # a chain with history before the crash
    before = _chain_bytes(lake)
    with pytest.raises(Crashed):
        life(CrashingLake(lake, after), REGIONS[2])
    # the next writer is not blocked: another task's whole life goes through
    life(lake, REGIONS[3])
    done = repair(lake, AUDIT_KEY, "42", "cli:operator", now=LIFE_AT)
    assert done.ok, done.problems
    again = repair(lake, AUDIT_KEY, "42", "cli:operator", now=LIFE_AT)
    assert again.ok and again.actions == []  # idempotent: nothing left, nothing appended
    check = audit.check_chain(lake, AUDIT_KEY, "42")
    assert check.ok, check.problems
    after_bytes = _chain_bytes(lake)
    assert {k: after_bytes[k] for k in before} == before  # nothing appended is lost or rewritten
    if done.actions:
        last = check.records[-1]
        assert last["kind"] == "repair" and last["operator"] == "cli:operator"
        assert last["actions"] == done.actions
    for rec in check.records:
        if rec.get("repaired_by") is not None:
            assert rec["repaired_by"] == "cli:operator"
    # every plan that is a task's draw or a test plan verifies against the chain
    refs = {r["ref"] for r in check.records}
    for plan_id in _plans(lake):
        if plan_id in refs:
            result = verify_plan(lake, plan_id, AUDIT_KEY)
            assert result.ok, (plan_id, result.message)
        else:  # an official plan whose writer died before claiming its draw: never official
            assert json.loads(lake.read_bytes(layout.plan_key("42", plan_id)))["mode"] == "official"
            assert not verify_plan(lake, plan_id, AUDIT_KEY).ok
    # the crashed task (when its slot was claimed) is whole again: registered and drawable
    slots = [audit.read_object(lake, f.key) or {} for f in
             lake.list_files(layout.task_slots_prefix("42"), include_hidden=True)]  # fmt: skip
    for slot in slots:
        task_id = str(slot["task_id"])
        assert ("task", task_id) in {(r["kind"], r["ref"]) for r in check.records}
        drawn = load_draws(lake, task_id)
        assert all(any(r["ref"] == d["plan_id"] for r in check.records) for d in drawn)


def test_an_unfinished_registration_says_so_and_draws_wait(
    template: tuple[Path, int], tmp_path: Path
) -> None:
    """Slot claimed, task not on the chain: the same request and a draw get a 409 naming repair."""
    lake = _fresh(template, tmp_path)
    with pytest.raises(Crashed):
        register_task(CrashingLake(lake, 3), task_request("4201"), WHO, AUDIT_KEY, now=LIFE_AT)
    with pytest.raises(Conflict, match=r"not on the audit chain yet.*audit repair") as exc:
        register_task(lake, task_request("4201"), WHO, AUDIT_KEY, now=LIFE_AT)
    task_id = str(exc.value.details["task_id"])
    with pytest.raises(Conflict, match="cannot be drawn until an operator"):
        draw_task(lake, task_id, DrawRequest(), WHO, AUDIT_KEY)
    done = repair(lake, AUDIT_KEY, "42", "cli:operator", now=LIFE_AT)
    assert [a["action"] for a in done.actions] == ["registered_task"]
    assert draw_task(lake, task_id, DrawRequest(), WHO, AUDIT_KEY).plan_id


def test_an_unsealed_record_is_set_aside_kept_and_recorded(
    template: tuple[Path, int], tmp_path: Path
) -> None:
    lake = _fresh(template, tmp_path)
    life(lake, REGIONS[0])
    head = audit.read_object(lake, layout.audit_head_key("42")) or {}
    n = int(head["seq"]) + 1
    planted = b'{"seq": 99, "kind": "plan"}'
    lake.write_bytes(layout.audit_record_key("42", n), planted)
    with pytest.raises(Conflict, match="not sealed"):
        life(lake, REGIONS[1])
    dry = repair(lake, AUDIT_KEY, "42", "cli:operator", now=LIFE_AT, dry_run=True)
    # the task whose registration met the planted record is claimed but not on the chain yet
    assert [a["action"] for a in dry.actions] == ["set_aside", "registered_task"]
    assert lake.read_bytes(layout.audit_record_key("42", n)) == planted  # a dry run writes nothing
    done = repair(lake, AUDIT_KEY, "42", "cli:operator", now=LIFE_AT)
    assert done.ok, done.problems
    kept = layout.audit_set_aside_key("42", n, audit.sha256(planted))
    assert lake.read_bytes(kept) == planted
    rec = json.loads(lake.read_bytes(layout.audit_record_key("42", n)))
    assert rec["kind"] == "repair" and rec["subject"] == audit.sha256(planted)
    assert rec["actions"][0]["kept_at"] == kept
    life(lake, REGIONS[2])
    assert audit.check_chain(lake, AUDIT_KEY, "42").ok


def test_a_tampered_chain_is_reported_not_repaired(template: tuple[Path, int], tmp_path: Path) -> None:
    lake = _fresh(template, tmp_path)
    life(lake, REGIONS[0])
    key = layout.audit_record_key("42", 2)
    rec = json.loads(lake.read_bytes(key))
    lake.write_bytes(key, audit.canonical({**rec, "ref": "42-t" + "9" * 20}))
    for dry_run in (True, False):
        done = repair(lake, AUDIT_KEY, "42", "cli:operator", now=LIFE_AT, dry_run=dry_run)
        assert not done.ok and "record 2: digest does not match its content" in done.problems
        assert not done.actions


def test_a_slow_writer_finished_by_another_is_no_error(template: tuple[Path, int], tmp_path: Path) -> None:
    """The original writer moves the head after someone finished its append: accepted."""
    lake = _fresh(template, tmp_path)
    life(lake, REGIONS[0])
    seq, prev, etag = audit.signed_head(lake, AUDIT_KEY, "42")
    finishers: list[Callable[[], None]] = []
    record = {"seq": seq + 1, "province": "42", "at": "t", "kind": "task", "ref": "42-t" + "1" * 20,
              "subject": "0" * 64, "prev": prev}  # fmt: skip
    record["digest"] = audit.record_digest(record)
    record["seal"] = AUDIT_KEY.sign(audit.seal_message("42", seq + 1, record["digest"]))
    lake.write_bytes(layout.audit_record_key("42", seq + 1), audit.canonical(record), if_none_match=True)
    finishers.append(lambda: audit.move_head(lake, AUDIT_KEY, "42", record, etag))
    assert audit.finish_pending(lake, AUDIT_KEY, "42", seq, prev, etag) == record  # the next writer
    finishers[0]()  # the slow original: its If-Match loses, the head already names its record
    assert audit.check_chain(lake, AUDIT_KEY, "42").ok


class _ConflictingS3:
    """S3 answering 409 ``ConditionalRequestConflict`` to a conditional PutObject, as AWS
    documents for a conditional write racing another in flight (moto never answers it)."""

    def put_object(self, **kw: Any) -> None:
        from botocore.exceptions import ClientError

        error = {"Code": "ConditionalRequestConflict", "Message": "A conflicting operation occurred"}
        raise ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": 409}}, "PutObject")


def test_a_409_while_finishing_is_a_lost_race_and_the_head_decides(tmp_path: Path) -> None:
    """The finisher's head replace answered 409: accepted when the head names the record (the
    other writer finished it), refused as tampering when it names anything else."""
    import pyarrow.fs as pafs

    lake = Lake(pafs.SubTreeFileSystem(str(tmp_path), pafs.LocalFileSystem()), "bucket/lake",
                "s3://bucket/lake", s3_client=_ConflictingS3)  # fmt: skip
    record = {"seq": 3, "digest": "d" * 64}
    head = tmp_path / "bucket/lake" / layout.audit_head_key("42")
    head.parent.mkdir(parents=True)
    head.write_bytes(audit.canonical(audit.signed(AUDIT_KEY, "42", 3, "d" * 64)))
    audit.move_head(lake, AUDIT_KEY, "42", record, "etag-of-2")  # no error: the head is there
    head.write_bytes(audit.canonical(audit.signed(AUDIT_KEY, "42", 2, "e" * 64)))
    with pytest.raises(StorageError, match="moved while record #3 was written"):
        audit.move_head(lake, AUDIT_KEY, "42", record, "etag-of-2")
