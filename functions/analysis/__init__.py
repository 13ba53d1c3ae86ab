"""Regional/industry risk, class migration and inspection effectiveness (docs/analysis.md).

``after_classification`` (warnings → analysis → report, :mod:`functions.report.monthly`) is
re-exported lazily here for the monthly run and ``make demo``.
"""

from __future__ import annotations

from typing import Any

from functions.analysis.analyse import analyse
from functions.analysis.effectiveness import effectiveness

__all__ = ["after_classification", "analyse", "effectiveness"]


def __getattr__(name: str) -> Any:
    if name == "after_classification":
        from functions.report.monthly import after_classification

        return after_classification
    raise AttributeError(name)
