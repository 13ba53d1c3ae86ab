"""Write a run's sampling copy at publish time: one DuckDB sort, then the cell index (ADR 0100).

The sort is the engine's work (DuckDB spills beyond its memory limit, so a 20M-row province
never sits in this process); the index is a streamed pass over the sorted file
(:func:`functions.sampling.cells.build_index`). On S3 the run's Parquet is downloaded to a
temporary folder first and the copy uploaded from there.
"""

from __future__ import annotations

import logging
import os
import tempfile
from typing import TYPE_CHECKING, Any

from functions import layout
from functions.errors import EngineError
from functions.objections.adjust import approved_adjustments
from functions.sampling import cells

if TYPE_CHECKING:
    from functions.lake import Lake
    from functions.settings import Settings

logger = logging.getLogger(__name__)


def copy_sql(source: str, target: str, *, adjusted: bool = False) -> str:
    """The statement that writes the copy: frame columns, sorted by cell then uscc. ``adjusted``:
    the class is the approved manual adjustment's where the ``adj`` table has one (ADR 0120)."""
    order = ", ".join((*cells.CELL_KEY, "uscc"))
    cls, join = "c.risk_class", ""
    if adjusted:
        cls, join = "coalesce(a.adjusted_class, c.risk_class)", " LEFT JOIN adj a USING (uscc)"
    return (
        f"COPY (SELECT * FROM (SELECT {cls} AS risk_class, c.region_code, substr(c.industry_code, 1, 1) "
        "AS section, c.entity_type, c.uscc, c.name, c.industry_code "
        f"FROM read_parquet('{_quoted(source)}') c{join}) ORDER BY {order}) "
        f"TO '{_quoted(target)}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {cells.ROW_GROUP_SIZE})"
    )


def _quoted(path: str) -> str:
    return path.replace("'", "''")


def write_sampling_copy(
    lake: Lake,
    month: str,
    province: str,
    run_id: str,
    model: str,
    *,
    settings: Settings | None = None,
    adjust: bool = True,
) -> dict[str, Any]:
    """Sort the run's classification into its sampling copy, index it, store both; a summary.
    ``adjust``: join the approved adjustments (the general class's copy; ADR 0120)."""
    import duckdb

    from functions.classify.engine_duckdb import connect_for

    with tempfile.TemporaryDirectory(prefix="creditrisk-sampling-") as tmp:
        key = layout.run_classifications_key(run_id)
        if lake.is_local:
            source = lake.path(key)
        else:
            source = os.path.join(tmp, "classifications.parquet")
            lake.download(key, source)
        target = os.path.join(tmp, "frame.parquet")
        con = connect_for(settings, os.path.join(tmp, "spill"))
        adjusted = approved_adjustments(lake, month, province) if adjust else {}
        try:
            if adjusted:  # sampling draws by the approved class (ADR 0120); a handful of rows
                con.execute("CREATE TEMP TABLE adj (uscc VARCHAR, adjusted_class VARCHAR)")
                con.executemany("INSERT INTO adj VALUES (?, ?)",
                                [(c, a["adjusted_class"]) for c, a in sorted(adjusted.items())])  # fmt: skip
            con.execute(copy_sql(source, target, adjusted=bool(adjusted)))
        except duckdb.Error as exc:
            raise EngineError(f"DuckDB failed to write the sampling copy of run {run_id}: {exc}") from exc
        finally:
            con.close()
        index = cells.store(lake, month, province, run_id, model, target)
    summary = {
        "adjusted": len(adjusted),
        "layout": cells.LAYOUT,
        "key": layout.sampling_prefix(month, province, run_id),
        "cells": index.num_rows,
        "rows": int(sum(index["count"].to_pylist())),
    }
    logger.info("sampling copy of run %s: %s cells, %s rows", run_id, summary["cells"], summary["rows"])
    return summary
