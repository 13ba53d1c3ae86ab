"""Monitoring and early warning (监测预警): rules as versioned config, run monthly and on upload.

``run_warnings`` is imported lazily: the API's read path (``functions.warnings.api``) must not
pull in DuckDB and sqlglot on a cold start.
"""

from __future__ import annotations

from typing import Any

__all__ = ["WarningRunResult", "run_warnings"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from functions.warnings import engine

        return getattr(engine, name)
    raise AttributeError(name)
