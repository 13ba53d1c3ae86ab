"""Data contracts: one pydantic model per dataset; Arrow schemas and JSON Schemas derive from them.

The package's names are loaded on first use: importing any contract module (``schemas.ingest`` for
the settings, ``schemas.api`` for a route) must not import pyarrow, so a CLI usage error or a small
handler does not pay for it (docs/adr/0151).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["DATASETS", "DatasetSpec", "FieldSpec", "arrow_schema", "curated_schema", "dataset"]

_HOME = {
    **dict.fromkeys(("arrow_schema", "curated_schema"), "schemas.arrow"),
    **dict.fromkeys(("DATASETS", "DatasetSpec", "FieldSpec", "dataset"), "schemas.datasets"),
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(name)
