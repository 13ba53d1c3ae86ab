"""Progress reporting: domain code calls a ``ProgressFn``; the CLI prints it, Lambdas log it."""

from __future__ import annotations

import sys
import time
from typing import Protocol


class ProgressFn(Protocol):
    def __call__(self, step: str, done: int, total: int | None = None) -> None: ...


def no_progress(step: str, done: int, total: int | None = None) -> None:
    """The default for library callers and Lambdas: report nothing."""


class StderrProgress:
    """Prints ``step: done/total`` lines to stderr, at most every ``interval`` seconds per step."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}

    def __call__(self, step: str, done: int, total: int | None = None) -> None:
        now = time.monotonic()
        final = total is not None and done >= total
        if not final and now - self._last.get(step, 0.0) < self.interval:
            return
        self._last[step] = now
        if total:
            pct = 100.0 * done / total
            sys.stderr.write(f"  {step}: {done:,}/{total:,} ({pct:.0f}%)\n")
        else:
            sys.stderr.write(f"  {step}: {done:,}\n")
        sys.stderr.flush()
