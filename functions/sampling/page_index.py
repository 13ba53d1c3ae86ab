"""A large plan's page index, checked whole against the plan and the audit chain (docs/adr/0162).

The GET of a page trusts an index that is consistent with the bytes it reads (docs/adr/0158);
that leaves an index rewritten on purpose, with runs that line up and digests that match, able
to serve an untouched run at the wrong position. ``creditrisk plan verify`` closes that: the
draw's chain record carries the index's SHA-256 (``page_index``: ``null`` when the draw wrote
none), and the index must exist exactly when the record names a digest, have that digest, and
describe the plan's bytes run by run: each run's range and check (SHA-256 in index format 1,
CRC-32C in format 2, docs/adr/0165), and its targets the plan's own at that position. Records
from before carry no ``page_index`` member: an index of theirs is checked against the plan's
bytes only.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from functions import layout
from functions.sampling.plans import TARGETS_CLOSE, TARGETS_OPEN, PageIndex, province_of_plan

if TYPE_CHECKING:
    from functions.lake import Lake

MEMBER = "page_index"  # the chain record's member (plan, supersession, test_plan)


def digest(lake: Lake, plan_id: str) -> str | None:
    """The SHA-256 of the plan's stored page index; ``None`` when it has none."""
    try:
        return hashlib.sha256(
            lake.read_bytes(layout.plan_pages_key(province_of_plan(plan_id), plan_id))
        ).hexdigest()
    except FileNotFoundError:
        return None


def problems(
    lake: Lake, plan_id: str, stored: bytes, targets: Any, record: dict[str, Any] | None
) -> tuple[list[str], str]:
    """What does not hold of the plan's page index, and a note on what was checked.

    ``stored`` is the plan's bytes (checked against ``record``'s subject by the caller),
    ``targets`` the plan's targets as parsed, ``record`` its chain record (``None``: off the chain)."""
    key = layout.plan_pages_key(province_of_plan(plan_id), plan_id)
    try:
        data: bytes | None = lake.read_bytes(key)
    except FileNotFoundError:
        data = None
    recorded = record is not None and MEMBER in record
    want = record.get(MEMBER) if record is not None else None
    if recorded and want is None:
        if data is None:
            return [], ""  # a plan answered whole (or whose index could not be written)
        return ["a page index exists that its chain record says was never written"], ""
    if recorded and data is None:
        return ["the page index its chain record names is missing"], ""
    if data is None:
        return [], ""
    found = [] if not recorded else _digest_differs(data, str(want))
    found += _content_problems(data, plan_id, stored, targets if isinstance(targets, list) else [])
    if recorded:
        return found, "page index as on the chain, every run checked"
    return found, "page index checked against the plan's bytes (drawn before its digest went on the chain)"


def _digest_differs(data: bytes, want: str) -> list[str]:
    if hashlib.sha256(data).hexdigest() == want:
        return []
    return ["the page index is not the one its chain record names (SHA-256 differs)"]


def _content_problems(data: bytes, plan_id: str, stored: bytes, targets: list[Any]) -> list[str]:
    """Whether the index is exactly the plan's: contiguous runs of ``stride`` targets from the
    opening of the targets' array to its close, each run's bytes of the check given and holding
    the plan's own targets at that position (which a merged and a split run cannot)."""
    try:
        index = PageIndex.parse(data)
        stride, count, head, end, size = index.stride, index.count, index.head, index.end, index.size
        chunks, named = index.chunks, index.plan_id
    except (ValueError, KeyError, TypeError) as exc:
        return [f"the page index is unreadable ({type(exc).__name__})"]
    out = []
    if named != plan_id or size != len(stored):
        out.append("the page index names another plan or another size")
    if stride < 1 or count != len(targets) or len(chunks) != -(-count // stride):
        return [*out, f"the page index has {len(chunks)} runs of {stride} for {count} targets, the plan "
                f"{len(targets)}"]  # fmt: skip
    opens, closes = stored[head : head + len(TARGETS_OPEN)], stored[end : end + len(TARGETS_CLOSE)]
    if opens != TARGETS_OPEN or closes != TARGETS_CLOSE:
        out.append("the page index's head or end is not where the plan's targets open or close")
    at = head + len(TARGETS_OPEN)
    for i, (offset, length, sha) in enumerate(chunks):
        run = stored[offset : offset + length]
        if offset != at or (i and stored[offset - 1 : offset] != b","):
            out.append(f"run {i} does not start where run {i - 1} ends")
        if index.check(run) != sha:
            out.append(f"run {i}: {index.check_name} differs from the plan's bytes at {offset}+{length}")
        elif _targets(run) != targets[i * stride : (i + 1) * stride]:
            out.append(f"run {i} does not hold targets {i * stride}…{min(count, (i + 1) * stride) - 1}")
        at = offset + length + 1
    if chunks and end != at - 1:
        out.append("the page index's runs do not end where the targets close")
    return out


def _targets(run: bytes) -> Any:
    try:
        return json.loads(b"[" + run + b"]")
    except ValueError:
        return None
