"""One entity's classification, read from the published partition by row-group statistics.

The partition is sorted by uscc, so only the row group whose min/max bracket the code is read
(pyarrow.parquet only; no dataset scan, no pandas).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from functions import layout
from functions.errors import NotFound, StorageError
from functions.sampling.frame import string_scalar

if TYPE_CHECKING:
    from functions.lake import Lake

COLUMNS = [
    "uscc", "name", "entity_type", "region_code", "industry_code", "risk_class", "risk_score",
    "previous_class", "dimension_scores", "reasons", "rules", "model", "run_id",
]  # fmt: skip


def lookup(lake: Lake, uscc: str, month: str) -> dict[str, Any]:
    """The classification of ``uscc`` in ``month`` (404 when the month or the entity is absent)."""
    province = uscc[2:4]
    key = layout.classification_key(month, province)
    if lake.info(key) is None:
        raise NotFound(f"no published classification for month {month}", field="month")
    try:
        with lake.open_input_file(key) as f:
            row = _find(pq.ParquetFile(f), uscc)
    except (OSError, KeyError) as exc:
        raise StorageError(f"cannot read {lake.display(key)}: {exc}") from exc
    if row is None:
        raise NotFound(f"{uscc} has no classification for month {month}", field="uscc")
    from functions.objections.adjust import approved_adjustments

    out = {"uscc": row["uscc"], "month": month, **{k: row[k] for k in COLUMNS if k != "uscc"}}
    # an approved manual adjustment is the class to use, as in the bulk read, the export and the
    # draws (ADR 0113, 0145); the model's class stays in ``risk_class``
    adjustment = approved_adjustments(lake, month, province).get(row["uscc"])
    general = adjustment["adjusted_class"] if adjustment else row["risk_class"]
    out["fields"] = {
        name: {k: r[k] for k in FIELD_COLUMNS} | {"sampling_class": _stricter(general, r["risk_class"])}
        for name, r in field_rows(lake, month, province, uscc).items()
    }
    out["adjustment"] = adjustment
    return out


FIELD_COLUMNS = ["risk_class", "risk_score", "previous_class", "reasons", "rules", "model", "run_id"]


def _stricter(general: str, field: str) -> str:
    from functions.classify.fields import stricter

    return stricter(general, field)


def field_rows(lake: Lake, month: str, province: str, uscc: str) -> dict[str, dict[str, Any]]:
    """Each professional field's published row of ``uscc`` (docs/adr/0117); fields whose
    population it is not in are left out. Same row-group pruning as the general lookup."""
    from schemas.fields import FIELDS

    out: dict[str, dict[str, Any]] = {}
    for name in FIELDS:
        key = layout.field_classification_key(name, month, province)
        if lake.info(key) is None:
            continue
        try:
            with lake.open_input_file(key) as f:
                row = _find(pq.ParquetFile(f), uscc)
        except (OSError, KeyError) as exc:
            raise StorageError(f"cannot read {lake.display(key)}: {exc}") from exc
        if row is not None:
            out[name] = row
    return out


def _find(pf: pq.ParquetFile, uscc: str) -> dict[str, Any] | None:
    md = pf.metadata
    col = pf.schema_arrow.get_field_index("uscc")
    for rg in range(md.num_row_groups):
        stats = md.row_group(rg).column(col).statistics
        if stats is not None and stats.has_min_max and not (stats.min <= uscc <= stats.max):
            continue
        t = pf.read_row_group(rg, columns=COLUMNS)
        hit = t.filter(pc.equal(t["uscc"], string_scalar(uscc)))
        if hit.num_rows:
            row: dict[str, Any] = hit.slice(0, 1).to_pylist()[0]
            return row
    return None
