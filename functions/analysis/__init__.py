"""Regional/industry risk, class migration and inspection effectiveness (docs/analysis.md).

The package itself imports nothing: importing any of its modules (``stats`` for the CLI's option
defaults) must not load the engine (DuckDB, pyarrow, ~1.3 CPU-s), so ``creditrisk evaluate --help``
and its usage errors stay cheap (docs/adr/0151). ``analyse`` and ``effectiveness`` are imported
from their modules. ``after_classification`` (warnings → analysis → report,
:mod:`functions.report.monthly`) is re-exported lazily for the monthly run and ``make demo``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["after_classification"]


def __getattr__(name: str) -> Any:
    if name == "after_classification":
        from functions.report.monthly import after_classification

        return after_classification
    raise AttributeError(name)
