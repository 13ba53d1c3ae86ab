"""Plans are stored once and never overwritten (``plans/<PP>/<plan_id>.json``).

Answers must fit AWS Lambda's 6 MB synchronous response (the body travels JSON-escaped inside
the proxy response). A plan whose answer would exceed :data:`MAX_ANSWER_BYTES` is answered with
its first page of targets and a ``targets_next`` link to ``GET …/plans/{plan_id}/targets``; the
stored plan itself stays complete (docs/adr/0045).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import google_crc32c
import numpy as np

from functions import layout
from functions.errors import Conflict, InvalidInput, NotFound, WriteConflict
from functions.sampling import encode
from schemas.api import TARGETS_PAGE

if TYPE_CHECKING:
    from functions.lake import Lake

logger = logging.getLogger(__name__)


def new_plan_id(province: str) -> str:
    """``PP-<20 hex>``: the province comes first so scope is checked before any lookup."""
    return f"{province}-{secrets.token_hex(10)}"


def province_of_plan(plan_id: str) -> str:
    m = layout.PLAN_ID_RE.match(plan_id)
    if not m:
        raise InvalidInput("plan_id must look like PP-<20 hex characters>", field="plan_id")
    return m.group(1)


def dumps(plan: dict[str, Any] | list[Any]) -> str:
    """The one serialisation of a plan: what is stored is byte-for-byte what is answered."""
    return json.dumps(plan, ensure_ascii=False, separators=(",", ":"))


def store_plan(lake: Lake, plan: dict[str, Any]) -> str:
    """Write a new plan; refuses to overwrite (immutability). Returns the stored JSON text."""
    text = dumps(plan)
    store_plan_bytes(lake, plan["province"], plan["plan_id"], text.encode("utf-8"))
    return text


_STORED_AS = {"Content-Type": "application/json"}
TARGET_BATCH = 65_536  # targets encoded and written at a time (about 11 MB of JSON, ADR 0153)
PAGE_STRIDE = 1_024  # targets per entry of a large plan's page index (docs/adr/0158)
TARGETS_OPEN = b',"targets":['  # between a stored plan's head and its targets
TARGETS_CLOSE = b"],"  # between its targets and its tail

# How a page index names each run's bytes, by index format (docs/adr/0165): format 1, SHA-256;
# format 2, CRC-32C (hardware, ~0.4 ms for a 7.5 MB plan against SHA-256's 4 ms). The run check
# only tells a GET that the bytes it read are those the index was written for; what a plan says
# is fixed by its SHA-256 on the audit chain, and ``plan verify`` reads every run's targets.
RUN_CHECKS: dict[int, tuple[str, Callable[[bytes | memoryview], str]]] = {
    1: ("SHA-256", lambda data: hashlib.sha256(data).hexdigest()),
    2: ("CRC-32C", lambda data: f"{google_crc32c.value(bytes(data)):08x}"),  # takes bytes only
}


def writer_format(implementation: str) -> int:
    """The index format the writer uses: 1 where google-crc32c runs without its C extension
    (``implementation`` ``"python"``: seconds for a large plan); readers take both."""
    return 2 if implementation == "c" else 1


INDEX_FORMAT = writer_format(google_crc32c.implementation)


@contextlib.contextmanager
def _created_once(plan_id: str) -> Iterator[None]:
    """Plans and their page indexes are created once (``If-None-Match: *`` on S3, whose bucket
    policy refuses any other write under ``plans/``, docs/adr/0166): a second write of the
    same id is refused by the store itself, not by an earlier look that a race could pass."""
    try:
        yield
    except WriteConflict:
        raise Conflict(f"plan {plan_id} already exists and is immutable", field="plan_id") from None


def store_plan_bytes(lake: Lake, province: str, plan_id: str, data: bytes) -> None:
    """Write a serialised plan once; refuses to overwrite (immutability)."""
    with _created_once(plan_id):
        lake.write_bytes(layout.plan_key(province, plan_id), data, metadata=_STORED_AS, if_none_match=True)


# -- answers that fit a Lambda response -------------------------------------------------------
MAX_ANSWER_BYTES = 5 * 2**20  # of the body as it travels JSON-escaped; Lambda's limit is 6 MB
_ENVELOPE = 512  # room for a targets_next link or page fields around a page of targets


def wire_size(data: bytes, limit: int = MAX_ANSWER_BYTES) -> int:
    """An upper bound of JSON text ``data``'s size as a JSON string in the Lambda proxy response:
    quotes and backslashes gain a backslash, a non-ASCII byte at most two more (``\\uXXXX``).
    Exact enough to compare with ``limit``: far below or above it, no scan is needed."""
    if 3 * len(data) <= limit or len(data) > limit:
        return 3 * len(data)
    octets = np.frombuffer(data, dtype=np.uint8)  # one vectorised pass per count, no copy
    non_ascii = int(np.count_nonzero(octets >= 0x80))
    escaped = int(np.count_nonzero(octets == 0x22)) + int(np.count_nonzero(octets == 0x5C))
    return len(data) + escaped + 2 * non_ascii


def targets_link(plan_id: str, offset: int, limit: int = TARGETS_PAGE) -> str:
    return f"/v1/sampling/plans/{plan_id}/targets?offset={offset}&limit={limit}"


@dataclass(frozen=True)
class PlanText:
    """A serialised plan in three parts, so that its targets can be paged without re-encoding.

    ``head`` is the JSON object up to the targets without its closing brace, ``tail`` the members
    after them with the closing brace; ``targets(start, stop)`` is a JSON array of that slice.
    """

    plan_id: str
    head: bytes
    targets: Callable[[int, int], bytes]
    count: int
    tail: bytes
    # targets ``start:stop`` as one JSON object (with its comma) each: large batches cut into
    # page-index runs without re-encoding each run (ADR 0163); None: ``targets`` per run
    objects: Callable[[int, int], Any] | None = None

    def full(self) -> bytes:
        """The complete plan: what is stored."""
        return b"".join((self.head, b',"targets":', self.targets(0, self.count), b",", self.tail))

    def pieces(self, stride: int, batch: int = 0) -> Iterator[tuple[bytes | memoryview, bool]]:
        """:meth:`full` in pieces, ``stride`` targets at most in each (joined, the same bytes);
        the flag marks a run of targets (what the page index records). With :attr:`objects`,
        targets are encoded ``batch`` (at least ``stride``) at a time."""
        yield self.head, False
        yield TARGETS_OPEN, False
        if self.objects is not None:
            step = max(stride, batch)
            for start in range(0, self.count, step):
                for k, run in enumerate(encode.runs(self.objects(start, start + step), stride)):
                    if start or k:
                        yield b",", False
                    yield run, True
        else:
            for start in range(0, self.count, stride):
                if start:
                    yield b",", False
                yield memoryview(self.targets(start, min(self.count, start + stride)))[1:-1], True
        yield TARGETS_CLOSE, False
        yield self.tail, False

    def answer(self, full: bytes | None = None, max_bytes: int = MAX_ANSWER_BYTES) -> bytes:
        """``full`` when it fits a Lambda answer, else the plan with its first page of targets."""
        full = self.full() if full is None else full
        if wire_size(full, max_bytes) <= max_bytes:
            return full
        return self.first_page(max_bytes)

    def first_page(self, max_bytes: int = MAX_ANSWER_BYTES) -> bytes:
        """The plan with its first page of targets and a ``targets_next`` link (when more remain):
        the answer of a plan too large for a Lambda response."""
        tail = self.tail
        if wire_size(self.head + tail, max_bytes) > max_bytes // 2:
            # the request echo (an ``exclude`` list, inspector conflicts) can be megabytes on
            # its own: such an answer leaves it out; the stored plan keeps it (docs/adr/0096)
            tail = small_tail(json.loads(b"{" + tail))
        budget = max_bytes - wire_size(self.head, max_bytes) - wire_size(tail, max_bytes)
        stop, page = page_within(self.targets, 0, min(self.count, TARGETS_PAGE), budget, 0)
        link = json.dumps(targets_link(self.plan_id, stop) if stop < self.count else None).encode()
        return b"".join((self.head, b',"targets":', page, b',"targets_next":', link, b",", tail))

    def page(self, offset: int, limit: int, max_bytes: int = MAX_ANSWER_BYTES) -> bytes:
        """``GET …/targets``: at most ``limit`` targets from ``offset``, fewer if more would not fit
        (but at least one while any remain, so following ``next_offset`` always ends)."""
        stop, page = page_within(self.targets, offset, min(self.count, offset + limit), max_bytes, 1)
        more = stop < self.count
        head = {
            "plan_id": self.plan_id,
            "total": self.count,
            "offset": offset,
            "limit": limit,
            "next_offset": stop if more else None,
            "targets_next": targets_link(self.plan_id, stop, limit) if more else None,
        }
        return b"".join((dumps(head).encode("utf-8")[:-1], b',"targets":', page, b"}"))


def page_within(
    targets: Callable[[int, int], bytes], start: int, stop: int, budget: int, at_least: int
) -> tuple[int, bytes]:
    """The longest ``targets(start, stop')``, ``stop' <= stop`` (halving), that fits ``budget``."""
    stop = max(start, stop)
    page = targets(start, stop)
    while stop - start > at_least and wire_size(page, budget) > budget - _ENVELOPE:
        stop = start + max(at_least, (stop - start) // 2)
        page = targets(start, stop)
    return stop, page


@dataclass(frozen=True)
class PageIndex:
    """A large plan's page index (docs/adr/0158), as :func:`store_plan_text` writes it beside the
    plan and as the GET of a page (:func:`_indexed_plan_text`) and ``plan verify``
    (:mod:`functions.sampling.page_index`) read it."""

    plan_id: Any  # as written; a reader compares it with the plan it was asked for
    size: int  # of the stored plan
    head: int  # length of the plan's head, before ``TARGETS_OPEN``
    end: int  # where ``TARGETS_CLOSE`` starts
    count: int  # targets
    stride: int  # targets per run
    chunks: list[tuple[int, int, str]]  # each run's offset, length and check
    format: int = INDEX_FORMAT  # which of :data:`RUN_CHECKS` the runs carry

    def __post_init__(self) -> None:
        if type(self.format) is not int or self.format not in RUN_CHECKS:
            raise ValueError(f"page index format {self.format!r} is not one of {sorted(RUN_CHECKS)}")

    @property
    def check_name(self) -> str:
        return RUN_CHECKS[self.format][0]

    def check(self, data: bytes | memoryview) -> str:
        """A run's check as this index's format writes it."""
        return RUN_CHECKS[self.format][1](data)

    def to_bytes(self) -> bytes:
        index = {
            "format": self.format,
            "plan_id": self.plan_id,
            "size": self.size,
            "head": self.head,
            "end": self.end,
            "count": self.count,
            "stride": self.stride,
            "chunks": [list(c) for c in self.chunks],
        }
        return dumps(index).encode("utf-8")

    @classmethod
    def parse(cls, data: bytes) -> PageIndex:
        """The index in ``data``; ``ValueError``, ``KeyError`` or ``TypeError`` when it is not one."""
        index = json.loads(data)
        return cls(
            plan_id=index["plan_id"],
            size=int(index["size"]),
            head=int(index["head"]),
            end=int(index["end"]),
            count=int(index["count"]),
            stride=int(index["stride"]),
            chunks=[(int(offset), int(length), str(sha)) for offset, length, sha in index["chunks"]],
            format=index["format"],
        )


@dataclass(frozen=True)
class StoredPlan:
    sha256: str  # of the stored bytes (what the audit chain records)
    size: int
    kept: bytes | None  # the whole plan when it is at most ``keep`` bytes, else ``None``
    page_index: str | None = None  # SHA-256 of the page index as written; None: none written


def store_plan_text(
    lake: Lake,
    province: str,
    text: PlanText,
    *,
    keep: int = MAX_ANSWER_BYTES,
    batch: int | None = None,
    index_format: int = INDEX_FORMAT,
) -> StoredPlan:
    """Write a new plan ``batch`` (default :data:`TARGET_BATCH`) targets at a time, hashing as it
    goes; refuses to overwrite.

    The bytes are those of :meth:`PlanText.full`, but a province-wide plan (134 MB for 790k
    targets) is never whole in memory: held whole, and copied while joined, it alone took
    a 20M province's draw to the API function's 1 GB (docs/adr/0153). A plan of at most
    ``keep`` bytes, which may be its own answer, is kept. A larger one gets a page index
    (:func:`plan_pages_key`): where each run of :data:`PAGE_STRIDE` targets starts and its
    check (``index_format``, :data:`RUN_CHECKS`), so that a page is read without parsing the
    plan (docs/adr/0158, 0165)."""
    key = layout.plan_key(province, text.plan_id)
    check = RUN_CHECKS[index_format][1]
    step = min(batch or TARGET_BATCH, PAGE_STRIDE)
    digest = hashlib.sha256()
    size = 0
    kept: list[bytes | memoryview] | None = []
    chunks: list[tuple[int, int, str]] = []
    with _created_once(text.plan_id), lake.writing(key, metadata=_STORED_AS, if_none_match=True) as out:

        def put(piece: bytes | memoryview) -> None:
            nonlocal size, kept
            out.write(piece)
            digest.update(piece)
            size += len(piece)
            if kept is not None and size <= keep:
                kept.append(piece)  # a view: copied once, joined, only if the plan stays small
            else:
                kept = None

        for piece, run in text.pieces(step, batch or TARGET_BATCH):
            if run:
                chunks.append((size, len(piece), check(piece)))
            put(piece)
    end = size - len(TARGETS_CLOSE) - len(text.tail)  # where the targets' array closes
    if kept is None:
        index = PageIndex(text.plan_id, size, len(text.head), end, text.count, step, chunks, index_format)
        data = index.to_bytes()
        try:
            lake.write_bytes(layout.plan_pages_key(province, text.plan_id), data, if_none_match=True)
            written = hashlib.sha256(data).hexdigest()  # what the audit chain records (ADR 0162)
        except Exception:  # the plan is stored: without its index, its pages are parsed as before
            logger.warning("plan %s: page index not written", text.plan_id, exc_info=True)
            written = None
        return StoredPlan(digest.hexdigest(), size, None, written)
    return StoredPlan(digest.hexdigest(), size, b"".join(kept))


def plan_text_of(plan: dict[str, Any]) -> PlanText:
    """Split a parsed plan into :class:`PlanText` (bytes as :func:`dumps` writes them)."""
    keys = list(plan)
    at = keys.index("targets")
    head = dumps({k: plan[k] for k in keys[:at]}).encode("utf-8")[:-1]
    tail = dumps({k: plan[k] for k in keys[at + 1 :] if k != "targets_next"}).encode("utf-8")[1:]
    rows: list[Any] = plan["targets"]

    def targets(start: int, stop: int) -> bytes:
        return dumps(rows[start:stop]).encode("utf-8")

    return PlanText(plan["plan_id"], head, targets, len(rows), tail)


def small_tail(after: dict[str, Any]) -> bytes:
    """The members after the targets with ``request`` replaced by ``null`` and
    ``request_omitted: true`` (the stored plan keeps it)."""
    if "request" in after:
        after = {**after, "request": None, "request_omitted": True}
    return dumps(after).encode("utf-8")[1:]


def load_plan_text(lake: Lake, plan_id: str) -> str:
    """The stored plan, unchanged (scope must have been checked by the caller)."""
    key = layout.plan_key(province_of_plan(plan_id), plan_id)
    try:
        return lake.read_bytes(key).decode("utf-8")
    except FileNotFoundError:
        raise NotFound(f"no plan {plan_id}", field="plan_id") from None


def load_plan(lake: Lake, plan_id: str) -> dict[str, Any]:
    plan: dict[str, Any] = json.loads(load_plan_text(lake, plan_id))
    return plan


_parsed: OrderedDict[tuple[str, str], PlanText] = OrderedDict()
_parsed_lock = threading.Lock()
_PARSED_CACHE_SIZE = 2  # a parsed 40k-target plan is ~30 MB of Python objects


def _plan_text(lake: Lake, plan_id: str, text: str | None = None) -> PlanText:
    """A stored plan as :class:`PlanText`, cached per process (plans are immutable)."""
    key = (lake.uri, plan_id)
    with _parsed_lock:
        hit = _parsed.get(key)
        if hit is not None:
            _parsed.move_to_end(key)
            return hit
    plan: dict[str, Any] = json.loads(text if text is not None else load_plan_text(lake, plan_id))
    out = plan_text_of(plan)
    with _parsed_lock:
        _parsed[key] = out
        while len(_parsed) > _PARSED_CACHE_SIZE:
            _parsed.popitem(last=False)
    return out


class _IndexMismatch(Exception):
    """A page index that does not describe its plan: the plan is parsed instead."""


def _indexed_plan_text(lake: Lake, plan_id: str) -> PlanText | None:
    """The plan as :class:`PlanText` read through its page index: the head and tail, and only the
    runs of targets a page needs, each checked against the index's run check and target count
    (:class:`_IndexMismatch` otherwise). ``None`` when there is no usable index (older plans).
    Targets are parsed and dumped again like :func:`plan_text_of`, so pages are the same bytes."""
    province = province_of_plan(plan_id)
    plan_key = layout.plan_key(province, plan_id)
    try:
        index = PageIndex.parse(lake.read_bytes(layout.plan_pages_key(province, plan_id)))
        count, stride, chunks = index.count, index.stride, index.chunks
        head_len, end, size = index.head, index.end, index.size
        info = lake.info(plan_key)
        at = head_len + len(TARGETS_OPEN)
        ok = index.plan_id == plan_id and info is not None and info.size == size and stride > 0
        ok = ok and len(chunks) == -(-count // stride)
        for offset, length, _ in chunks:
            ok = ok and offset == at and length > 0
            at = offset + length + 1
        ok = ok and end == (at - 1 if chunks else head_len + len(TARGETS_OPEN)) and end + 2 <= size
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        logger.warning("plan %s: page index does not match the plan, parsed instead", plan_id)
        return None
    head = lake.read_range(plan_key, 0, head_len + len(TARGETS_OPEN))
    after = lake.read_range(plan_key, end, size - end)
    if head[head_len:] != TARGETS_OPEN or after[: len(TARGETS_CLOSE)] != TARGETS_CLOSE:
        raise _IndexMismatch(plan_id)
    try:
        before = json.loads(head[:head_len] + b"}")
        rest = json.loads(b"{" + after[2:])
    except ValueError:
        raise _IndexMismatch(plan_id) from None
    plan = {**before, "targets": [], **rest}
    shell = plan_text_of(plan)
    read: dict[int, list[Any]] = {}

    def run(i: int) -> list[Any]:
        if i not in read:
            offset, length, sha = chunks[i]
            data = lake.read_range(plan_key, offset, length)
            if index.check(data) != sha:
                raise _IndexMismatch(plan_id)
            try:
                rows = json.loads(b"[" + data + b"]")
            except ValueError:
                raise _IndexMismatch(plan_id) from None
            if len(rows) != min(stride, count - i * stride):
                raise _IndexMismatch(plan_id)
            if len(read) > 16:  # a page spans at most 11 runs: keep memory O(page)
                read.clear()
            read[i] = rows
        return read[i]

    def targets(start: int, stop: int) -> bytes:
        stop = min(stop, count)
        rows: list[Any] = []
        for i in range(start // stride, -(-stop // stride) if stop > start else start // stride):
            rows.extend(run(i))
        first = (start // stride) * stride
        return dumps(rows[start - first : stop - first]).encode("utf-8")

    return PlanText(plan_id, shell.head, targets, count, shell.tail)


def clear_cache() -> None:
    with _parsed_lock:
        _parsed.clear()


def plan_answer(lake: Lake, plan_id: str, max_bytes: int = MAX_ANSWER_BYTES) -> str:
    """``GET /v1/sampling/plans/{plan_id}``: the stored plan, or its first page when too large.
    A plan with a page index is never read whole (docs/adr/0158)."""
    indexed = _from_index(lake, plan_id, lambda t: t.first_page(max_bytes))
    if indexed is not None:
        return indexed
    text = load_plan_text(lake, plan_id)
    data = text.encode("utf-8")
    if wire_size(data, max_bytes) <= max_bytes:
        return text
    return _plan_text(lake, plan_id, text).answer(data, max_bytes).decode("utf-8")


def targets_page(lake: Lake, plan_id: str, offset: int, limit: int, max_bytes: int = MAX_ANSWER_BYTES) -> str:
    """``GET /v1/sampling/plans/{plan_id}/targets``: targets ``offset:offset+limit`` of a plan."""
    indexed = _from_index(lake, plan_id, lambda t: t.page(offset, limit, max_bytes))
    if indexed is not None:
        return indexed
    return _plan_text(lake, plan_id).page(offset, limit, max_bytes).decode("utf-8")


def _from_index(lake: Lake, plan_id: str, answer: Callable[[PlanText], bytes]) -> str | None:
    """``answer`` of the plan read through its page index; ``None`` (parse the plan) without a
    usable index or when the bytes read are not those the index describes."""
    if (lake.uri, plan_id) in _parsed:
        return None  # already parsed in this process: no read at all
    try:
        text = _indexed_plan_text(lake, plan_id)
        return None if text is None else answer(text).decode("utf-8")
    except _IndexMismatch:
        logger.warning("plan %s: page index does not match the plan's bytes, parsed instead", plan_id)
        return None
