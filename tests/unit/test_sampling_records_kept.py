"""The records of 双随机 sampling are kept as written, by S3 itself (docs/adr/0166): the lake
bucket's policy refuses writes without S3's conditional headers under the record prefixes and
every delete there; the platform's own writes meet it. Decided by :mod:`tests.lake_policy` on a
moto lake (moto cannot evaluate the conditioned statements)."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from functions import layout
from functions.errors import Conflict, StorageAccessDenied
from functions.lake import Lake
from functions.sampling.plans import load_plan_text, store_plan
from functions.sampling.verify import verify_plan
from tests.lake_policy import Policed, lake_bucket_policy, police
from tests.sampling_data import AUDIT_KEY, life, publish_life

RECORDS = layout.RECORD_PREFIXES


@pytest.fixture
def policed(s3_lake: Lake) -> tuple[Lake, Policed]:
    publish_life(s3_lake)
    return s3_lake, police(s3_lake)


def _under_records(key: str) -> bool:
    return key.removeprefix("lake/").startswith(tuple(f"{p}/" for p in RECORDS))


def test_the_policy_covers_the_layouts_record_prefixes() -> None:
    """The template is generated from functions/layout.py: a prefix added there is protected."""
    doc = lake_bucket_policy("arn:aws-cn:s3:::b")
    by_sid = {s.get("Sid"): s for s in doc["Statement"]}
    created = by_sid["RecordsAreCreatedOnce"]
    assert created["Resource"] == [f"arn:aws-cn:s3:::b/{p}/*" for p in layout.CREATE_ONCE_PREFIXES]
    assert created["Condition"] == {"Null": {"s3:if-none-match": "true"}}
    audit = by_sid["AuditWritesAreConditional"]
    assert audit["Resource"] == [f"arn:aws-cn:s3:::b/{p}/*" for p in layout.CONDITIONAL_PREFIXES]
    assert audit["Condition"] == {"Null": {"s3:if-none-match": "true", "s3:if-match": "true"}}
    kept = by_sid["RecordsAreNeverDeleted"]
    assert kept["Resource"] == [f"arn:aws-cn:s3:::b/{p}/*" for p in RECORDS]
    assert kept["Action"] == ["s3:DeleteObject", "s3:DeleteObjectVersion"] and "Condition" not in kept
    for s in (created, audit, kept):
        assert s["Effect"] == "Deny" and s["Principal"] == "*"


def test_a_tasks_whole_life_meets_the_policy(policed: tuple[Lake, Policed]) -> None:
    """Registration, the official draw, a redraw and a test plan: every write under the record
    prefixes carries its condition, and none is refused."""
    lake, decisions = policed
    plan_id = life(lake, "4201")
    records = [d for d in decisions.decisions if _under_records(d[1])]
    assert [d for d in decisions.decisions if d[3] == "deny"] == []
    written = {d[1].removeprefix("lake/").split("/")[0] for d in records}
    assert written >= {"plans", "tasks", "audit", "_sampling"}
    assert all({"s3:if-none-match", "s3:if-match"} & set(d[2]) for d in records)
    assert verify_plan(lake, plan_id, AUDIT_KEY).ok


def test_nobody_rewrites_or_removes_a_stored_plan(policed: tuple[Lake, Policed]) -> None:
    lake, decisions = policed
    plan_id = life(lake, "4201")
    key = layout.plan_key("42", plan_id)
    stored = load_plan_text(lake, plan_id)
    with pytest.raises(StorageAccessDenied, match=r"bucket's policy refuses it: a sampling record"):
        lake.write_bytes(key, b"{}")  # a plain PUT: what a forger or a stray copy sends
    etag = lake.read_tagged(key)
    assert etag is not None
    with pytest.raises(StorageAccessDenied):  # plans are never replaced, not even If-Match
        lake.write_bytes(key, b"{}", if_match=etag[1])
    bucket, _, object_key = lake.path(key).partition("/")
    for delete in (
        lambda: lake.s3_client.delete_object(Bucket=bucket, Key=object_key),
        lambda: lake.s3_client.delete_object(Bucket=bucket, Key=object_key, VersionId="null"),
    ):
        with pytest.raises(ClientError) as exc:
            delete()
        assert exc.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(Conflict, match="already exists and is immutable"):  # create-once: S3 says 412
        store_plan(lake, json.loads(stored))
    assert load_plan_text(lake, plan_id) == stored
    assert verify_plan(lake, plan_id, AUDIT_KEY).ok
    refused = [(a, k) for a, k, _, d in decisions.decisions if d == "deny"]
    assert len(refused) == 4 and all(k.endswith(f"{plan_id}.json") for _, k in refused)


def test_audit_records_need_a_condition_and_other_areas_do_not(policed: tuple[Lake, Policed]) -> None:
    lake, _ = policed
    life(lake, "4201")
    head = layout.audit_head_key("42")
    tagged = lake.read_tagged(head)
    assert tagged is not None
    with pytest.raises(StorageAccessDenied):
        lake.write_bytes(head, tagged[0])
    with pytest.raises(StorageAccessDenied):
        lake.write_bytes(layout.task_secret_key("42", "42-t" + "0" * 20), b"{}")
    lake.write_bytes("results/elsewhere.json", b"{}")  # the policy is about the records only
    assert lake.read_tagged(head) == tagged


def test_a_refused_write_leaves_nothing(policed: tuple[Lake, Policed]) -> None:
    """The refusal stands in for S3's: the object is not created."""
    lake, _ = policed
    with pytest.raises(StorageAccessDenied):
        lake.write_bytes("plans/42/42-" + "0" * 20 + ".json", b"{}")
    assert not lake.exists("plans/42/42-" + "0" * 20 + ".json")
