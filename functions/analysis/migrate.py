"""One-off migration: move the analysis tables out of ``results/analysis/`` (ADR 0149).

Before ADR 0149 each ``results/analysis/month=M/province=P/`` partition held three Parquet files
of three schemas (regions, industries, migration), so no reader could take the prefix as one
dataset. Each kind is now its own dataset, ``results/analysis_<kind>/``. This step copies every
legacy file to its new key, cast to the contract (schemas/analysis.py: columns by name, so the
order of old files does not matter), and deletes the legacy file only once the new one is there.
A new key that already exists (written by a later ``analyse``) is newer and is kept. Idempotent:
a second run finds no legacy file. Bucket versioning keeps the deleted objects (ADR 0053).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa

from functions import layout
from functions.errors import StorageError
from schemas.analysis import ANALYSIS_KINDS
from schemas.arrow import arrow_schema

if TYPE_CHECKING:
    from functions.lake import Lake

logger = logging.getLogger(__name__)
LEGACY_PREFIX = "results/analysis"


@dataclass
class AnalysisMigration:
    moved: list[str] = field(default_factory=list)  # legacy keys copied, then deleted
    superseded: list[str] = field(default_factory=list)  # legacy keys whose new key already existed
    conflicts: list[str] = field(default_factory=list)  # legacy keys that do not fit the contract

    def to_dict(self) -> dict[str, object]:
        return {"moved": self.moved, "superseded": self.superseded, "conflicts": self.conflicts}


def _partition(key: str) -> tuple[str, str] | None:
    parts = layout.hive_keys(key)
    month, province = parts.get("month"), parts.get("province")
    return (month, province) if month and province else None


def migrate_analysis_tables(
    lake: Lake, *, province: str | None = None, dry_run: bool = False
) -> AnalysisMigration:
    """Move every legacy analysis table (of ``province``, or all) to its own dataset."""
    out = AnalysisMigration()
    for f in lake.list_files(LEGACY_PREFIX):
        kind = f.key.rsplit("/", 1)[-1].removesuffix(".parquet")
        where = _partition(f.key)
        if kind not in ANALYSIS_KINDS or not f.key.endswith(".parquet") or where is None:
            continue  # the JSON documents stay where they are
        month, prov = where
        if province is not None and prov != province:
            continue
        new = layout.analysis_table_key(kind, month, prov)
        if lake.exists(new):
            out.superseded.append(f.key)
        else:
            schema = arrow_schema(ANALYSIS_KINDS[kind])
            try:
                table = lake.read_parquet(f.key).select(schema.names).cast(schema)
            except (KeyError, ValueError, pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                logger.error("%s does not fit the %s contract (%s); left as is", f.key, kind, exc)
                out.conflicts.append(f.key)
                continue
            except OSError as exc:
                raise StorageError(f"cannot read {lake.display(f.key)}: {exc}", key=f.key) from exc
            if not dry_run:
                lake.write_parquet(new, table)
            out.moved.append(f.key)
        if not dry_run:
            lake.delete(f.key)
    return out
