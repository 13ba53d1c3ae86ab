"""One-off migration: drop the partition keys that old warnings and tasks files repeat as columns.

Files written before ADR 0105 carry ``province`` (a string) and sometimes ``month`` as columns
while the path holds them as hive keys, so a hive reader sees ``province`` twice with two types
and fails. Each such file is rewritten in place without those columns, once the values are
checked to equal the path's (a file whose column disagrees with its path is reported, never
rewritten). Idempotent: a file without the columns is left untouched, so a second run rewrites
nothing (docs/operations.md, "Migrating old warnings files").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from functions import layout
from functions.errors import StorageError

if TYPE_CHECKING:
    from functions.lake import Lake

logger = logging.getLogger(__name__)
PREFIXES = ("results/warnings", "results/tasks")


@dataclass
class MigrationResult:
    rewritten: list[str] = field(default_factory=list)
    unchanged: int = 0
    conflicts: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"rewritten": self.rewritten, "unchanged": self.unchanged, "conflicts": self.conflicts}


def drop_partition_columns(
    lake: Lake, *, province: str | None = None, dry_run: bool = False
) -> MigrationResult:
    """Rewrite every warnings/tasks file (of ``province``, or all) that repeats a partition key."""
    out = MigrationResult()
    for prefix in PREFIXES:
        for f in lake.list_files(prefix):
            if not f.key.endswith(".parquet"):
                continue
            keys = layout.hive_keys(f.key)
            if province is not None and keys.get("province") != province:
                continue
            try:
                table = lake.read_parquet(f.key)
            except (OSError, pa.ArrowInvalid) as exc:
                raise StorageError(f"cannot read {lake.display(f.key)}: {exc}", key=f.key) from exc
            repeated = [c for c in table.column_names if c in keys]
            if not repeated:
                out.unchanged += 1
                continue
            bad = [
                c
                for c in repeated
                if table.num_rows
                and pc.any(pc.not_equal(pc.cast(table[c], pa.string()), keys[c])).as_py() is not False
            ]
            if bad:
                logger.error("%s: column(s) %s disagree with the path; left as is", f.key, ", ".join(bad))
                out.conflicts.append(f.key)
                continue
            if not dry_run:
                lake.write_parquet(f.key, table.drop_columns(repeated))
            out.rewritten.append(f.key)
    return out
