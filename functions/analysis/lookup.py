"""A few entities' rows of a published classification, without reading the province (ADR 0109).

A filtered Arrow dataset scan over the partition file (local folder or S3, through the lake's
own filesystem): batches stream past the filter, only the matching rows stay in memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.dataset as pads

from functions import layout
from functions.errors import StorageError

BATCH_ROWS = 65_536

if TYPE_CHECKING:
    from functions.lake import Lake


def entity_rows(
    lake: Lake, month: str, province: str, usccs: Iterable[str], columns: list[str]
) -> pa.Table | None:
    """The rows of ``usccs`` (``columns`` only), or ``None`` if the month is not published."""
    key = layout.classification_key(month, province)
    if lake.info(key) is None:
        return None
    wanted = sorted({str(u) for u in usccs})
    try:
        ds = pads.dataset(lake.path(key), filesystem=lake.fs, format="parquet")
        # One batch at a time: the default read-ahead decodes many row groups (names, reasons)
        # at once, which at 20M entities is most of a gigabyte (bench/report.py).
        scanner = ds.scanner(
            columns=columns,
            # typed: an empty list would be a null array, which Arrow refuses against strings
            filter=pads.field("uscc").isin(pa.array(wanted, pa.string())),
            batch_size=BATCH_ROWS,
            batch_readahead=1,
            fragment_readahead=1,
            use_threads=True,
            fragment_scan_options=pads.ParquetFragmentScanOptions(pre_buffer=False),
        )
        return scanner.to_table()
    except (OSError, pa.ArrowInvalid) as exc:
        raise StorageError(f"cannot read the classification at {lake.display(key)}: {exc}") from exc


def names_of(lake: Lake, month: str, province: str, usccs: Iterable[str]) -> dict[str, str]:
    """{uscc: entity name} for the given codes (those not classified in ``month`` are absent)."""
    t = entity_rows(lake, month, province, usccs, ["uscc", "name"])
    if t is None:
        return {}
    return dict(zip(t["uscc"].to_pylist(), t["name"].to_pylist(), strict=True))
