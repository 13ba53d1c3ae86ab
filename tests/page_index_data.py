"""Page indexes built from a stored plan's bytes, and the consistent forgery ADR 0158 left open
(tests of docs/adr/0162 share them)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import google_crc32c

from functions.sampling.plans import INDEX_FORMAT, TARGETS_OPEN, new_plan_id

FORMATS = [1, 2]  # the page index formats a reader takes (docs/adr/0158, 0165)


def large_plan(n: int) -> dict[str, Any]:
    """A plan of ``n`` targets with names that need escaping and a float score."""
    targets = [
        {"uscc": f"{i:018d}", "name": f'湖北某某"{i}', "risk_class": "D", "region_code": "420100",
         "industry_code": "C13", "score": i / 3, "inspectors": [f"I{i % 5}"]}
        for i in range(n)
    ]  # fmt: skip
    return {"plan_id": new_plan_id("42"), "month": "2026-10", "strata": [{"s": "é"}], "targets": targets,
            "inspector_loads": {"I0": 1.5}, "request": {"province": "42", "exclude": ["x"] * 50}}  # fmt: skip


def _bounds(stored: bytes) -> tuple[int, int, list[tuple[int, int]]]:
    """The head's length, where the targets close and each target's byte range, found by decoding
    the targets one at a time (latin-1 text, so that positions are byte offsets)."""
    text, decoder = stored.decode("latin-1"), json.JSONDecoder()
    head = stored.index(TARGETS_OPEN)
    pos, out = head + len(TARGETS_OPEN), []
    while stored[pos : pos + 1] != b"]":
        _, end = decoder.raw_decode(text, pos)
        out.append((pos, end))
        pos = end + 1 if stored[end : end + 1] == b"," else end
    return head, pos, out


def run_check(data: bytes, index_format: int) -> str:
    """A run's check in ``index_format``, computed here (not by the writer's table)."""
    if index_format == 1:
        return hashlib.sha256(data).hexdigest()
    assert index_format == 2
    return format(google_crc32c.value(data), "08x")


def _entry(stored: bytes, start: int, stop: int, index_format: int) -> list[Any]:
    return [start, stop - start, run_check(stored[start:stop], index_format)]


def index_of(stored: bytes, plan_id: str, stride: int, index_format: int = INDEX_FORMAT) -> dict[str, Any]:
    """The page index of ``stored`` with runs of ``stride`` targets, as the plan writer makes it."""
    head, end, bounds = _bounds(stored)
    runs = [bounds[i : i + stride] for i in range(0, len(bounds), stride)]
    return {"format": index_format, "plan_id": plan_id, "size": len(stored), "head": head, "end": end,
            "count": len(bounds), "stride": stride,
            "chunks": [_entry(stored, run[0][0], run[-1][1], index_format) for run in runs]}  # fmt: skip


def merged_and_split(
    stored: bytes, plan_id: str, stride: int, index_format: int = INDEX_FORMAT
) -> dict[str, Any]:
    """Runs 0 and 1 merged into one entry and run 3 split after its first target: still
    contiguous, as many entries as runs, each of its bytes' check, and the untouched run 2 (in
    entry 1) of exactly ``stride`` targets: all a GET checks, but at the wrong position
    (docs/adr/0158, "deliberately not done")."""
    index = index_of(stored, plan_id, stride, index_format)
    _, _, bounds = _bounds(stored)
    c = index["chunks"]
    merged = _entry(stored, c[0][0], c[1][0] + c[1][1], index_format)
    cut = bounds[3 * stride][1]
    split = [
        _entry(stored, c[3][0], cut, index_format),
        _entry(stored, cut + 1, c[3][0] + c[3][1], index_format),
    ]
    return {**index, "chunks": [merged, c[2], *split, *c[4:]]}
