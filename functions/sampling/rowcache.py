"""Decoded rows of sampling copies kept between plan requests, within a byte budget (ADR 0163).

A plan over a city or a whole province needs nearly every row group of its scope: with a few
per cent drawn and 4,096 rows a group, every group holds a target, so each request decoded the
scope's ``uscc``, ``name`` and ``industry_code`` again. That decoding was most of a dense
request (about 150 ms of CPU for a million rows; on S3 also the GETs). A copy never changes once
written (one per run, ADR 0100), so what one request decoded serves the next ones of the same
warm process: runs of consecutive rows, per column, the least recently used dropped first.

Spans hold their own buffers (copied out of the batch they were decoded in), so the bytes
counted are the bytes kept. A request whose reads would not fit in the whole budget keeps
nothing: a 20M province-wide draw would otherwise only flush everything else, and still not be
kept whole.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

_tokens = itertools.count(1)


def new_token() -> int:
    """A number naming one copy's rows for as long as the process lives (never reused)."""
    return next(_tokens)


@dataclass(frozen=True)
class Span:
    """Rows ``first .. first + len(values) - 1`` of one column of a copy."""

    first: int
    values: pa.Array

    @property
    def end(self) -> int:
        return self.first + len(self.values)


@dataclass
class _Column:
    """The spans of one (copy, column), sorted by ``first`` when looked up."""

    spans: dict[int, Span]  # first -> span
    firsts: Any = None  # int64 numpy, sorted (rebuilt after a change)
    ends: Any = None

    def arrays(self) -> tuple[Any, Any]:
        if self.firsts is None:
            order = sorted(self.spans)
            self.firsts = np.array(order, dtype=np.int64)
            self.ends = np.array([self.spans[f].end for f in order], dtype=np.int64)
        return self.firsts, self.ends


class RowCache:
    """Spans of decoded copy rows, keyed by ``(token, column)``, within ``budget`` bytes."""

    def __init__(self, budget: int) -> None:
        self.budget = max(0, int(budget))
        self._columns: dict[tuple[int, str], _Column] = {}
        self._lru: OrderedDict[tuple[int, str, int], int] = OrderedDict()  # -> nbytes
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        return self._bytes

    def clear(self) -> None:
        with self._lock:
            self._columns.clear()
            self._lru.clear()
            self._bytes = 0

    def lookup(self, token: int, column: str, rows: Any) -> tuple[list[Span], Any]:
        """The spans holding some of ``rows`` (sorted ascending) and a mask of the rows they hold.

        Spans do not overlap, so each holds one slice of ``rows``: found by two binary searches
        per span, not one per row (a province-wide draw asks 40k rows of a few spans)."""
        with self._lock:
            col = self._columns.get((token, column))
            if col is None or not col.spans or not len(rows):
                return [], np.zeros(len(rows), dtype=bool)
            firsts, ends = col.arrays()
            lo = np.searchsorted(rows, firsts, side="left")
            hi = np.searchsorted(rows, ends, side="left")
            found = np.flatnonzero(hi > lo)
            edges = np.zeros(len(rows) + 1, dtype=np.int32)  # +1 where a held slice starts, -1 after
            edges[lo[found]] += 1  # distinct: the slices of disjoint spans do not share a start
            edges[hi[found]] -= 1  # nor an end
            covered = np.cumsum(edges[:-1]) > 0
            spans = [col.spans[int(firsts[k])] for k in found.tolist()]
            for s in spans:
                self._lru.move_to_end((token, column, s.first))
        return spans, covered

    def fits(self, nbytes: int, allowance: int) -> bool:
        """Whether a span of ``nbytes`` may be kept by a request with ``allowance`` bytes left."""
        return 0 < nbytes <= min(allowance, self.budget)

    def put(self, token: int, column: str, span: Span) -> None:
        """Keep ``span`` (its buffers its own), dropping the least recently used to make room.
        A span overlapping one already kept (two requests decoded it at once) is not kept."""
        size = int(span.values.nbytes)
        if size > self.budget:
            return
        with self._lock:
            col = self._columns.setdefault((token, column), _Column({}))
            if col.spans:
                firsts, ends = col.arrays()
                k = int(np.searchsorted(firsts, span.end, side="left")) - 1
                if k >= 0 and ends[k] > span.first:
                    return
            while self._lru and self._bytes + size > self.budget:
                (t, c, first), gone = self._lru.popitem(last=False)
                self._bytes -= gone
                other = self._columns[(t, c)]
                del other.spans[first]
                other.firsts = other.ends = None
                if not other.spans:
                    del self._columns[(t, c)]
            col = self._columns.setdefault((token, column), col)
            col.spans[span.first] = span
            col.firsts = col.ends = None
            self._lru[(token, column, span.first)] = size
            self._bytes += size


def owned(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``values`` as one array with buffers of its own (a slice would keep its whole batch)."""
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    return pa.concat_arrays(chunks) if chunks else pa.array([], type=values.type)


_shared: RowCache | None = None
_shared_lock = threading.Lock()


def shared() -> RowCache:
    """The process's cache, sized by ``Settings.sampling_cache_mb`` when first used."""
    global _shared
    with _shared_lock:
        if _shared is None:
            from functions.settings import get_settings

            _shared = RowCache(get_settings().sampling_cache_mb * 2**20)
        return _shared


def configure(budget: int) -> RowCache:
    """Replace the shared cache by one of ``budget`` bytes (tests; a process sized otherwise)."""
    global _shared
    with _shared_lock:
        _shared = RowCache(budget)
        return _shared


def reset() -> None:
    """Forget the shared cache (tests; the next use re-reads the budget)."""
    global _shared
    with _shared_lock:
        if _shared is not None:
            _shared.clear()
        _shared = None
