"""The monthly export of a province's full result for its inspection platform (名录库对接,
issue 14, docs/adr/0122).

Written on the engine (DuckDB with its memory limit and spill folder, as the sampling copy is:
the published Parquet is read from disk, a 20M-row province never sits in this process) to
``delivery/<PP>/month=<M>/``: ``classifications.parquet`` and ``classifications.csv.gz`` (UTF-8,
header) with the columns a platform needs, then ``manifest.json`` (rows, files, SHA-256) last.
The announcement (an event carrying the manifest) is made by :mod:`functions.delivery.announce`.
In AWS only the province's platform role may read its prefix (infra/delivery.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
import tempfile
from typing import TYPE_CHECKING

from functions import layout
from functions.errors import EngineError, NotFound
from functions.objections.adjust import approved_adjustments
from schemas.delivery import EXPORT_COLUMNS, ExportFile, ExportManifest

if TYPE_CHECKING:
    from functions.lake import Lake
    from functions.settings import Settings

logger = logging.getLogger(__name__)
FIELD_CLASS = re.compile(r"^[a-z][a-z0-9_]*_class$")  # professional-field classes, when present
NOT_FIELDS = {"risk_class", "previous_class"}


def export_sql(source: str, target: str, field_columns: list[str]) -> str:
    """The statement writing the Parquet export (adjustments joined from the ``adj`` table)."""
    fields = "".join(f', c."{c}"' for c in field_columns)
    return (
        "COPY (SELECT c.uscc, c.name, coalesce(a.adjusted_class, c.risk_class) AS class, "
        "c.risk_class AS model_class, a.adjusted_class IS NOT NULL AS adjusted, a.adjustment_id, "
        "c.previous_class, coalesce(c.previous_class IS NULL OR c.previous_class <> c.risk_class, true) "
        f"AS changed{fields} FROM read_parquet('{_quoted(source)}') c LEFT JOIN adj a USING (uscc) "
        f"ORDER BY c.uscc) TO '{_quoted(target)}' (FORMAT parquet, COMPRESSION zstd)"
    )


def _quoted(path: str) -> str:
    return path.replace("'", "''")


def export_month(
    lake: Lake, month: str, province: str, *, settings: Settings | None = None, now: dt.datetime | None = None
) -> ExportManifest:
    """Write the province's export of ``month`` (the published run, approved adjustments applied)."""
    import duckdb

    from functions.classify.engine_duckdb import connect_for

    key = layout.classification_key(month, province)
    if lake.info(key) is None:
        raise NotFound(f"no published classification for province {province} in {month}", field="month")
    adjusted = approved_adjustments(lake, month, province)
    with tempfile.TemporaryDirectory(prefix="creditrisk-delivery-") as tmp:
        if lake.is_local:
            source = lake.path(key)
        else:
            source = os.path.join(tmp, "published.parquet")
            lake.download(key, source)
        parquet, csv = (
            os.path.join(tmp, "classifications.parquet"),
            os.path.join(tmp, "classifications.csv.gz"),
        )
        con = connect_for(settings, os.path.join(tmp, "spill"))
        try:
            names = [
                r[0]
                for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{_quoted(source)}')").fetchall()
            ]
            fields = [n for n in names if FIELD_CLASS.match(n) and n not in NOT_FIELDS]
            con.execute("CREATE TEMP TABLE adj (uscc VARCHAR, adjusted_class VARCHAR, adjustment_id VARCHAR)")
            if adjusted:
                values = [(c, a["adjusted_class"], a["adjustment_id"]) for c, a in sorted(adjusted.items())]
                con.executemany("INSERT INTO adj VALUES (?, ?, ?)", values)
            con.execute(export_sql(source, parquet, fields))
            con.execute(f"COPY (SELECT * FROM read_parquet('{_quoted(parquet)}')) TO '{_quoted(csv)}' "
                        "(FORMAT csv, HEADER, COMPRESSION gzip)")  # fmt: skip
            rows, changed, n_adj = con.execute(
                f"SELECT count(*), count(*) FILTER (changed), count(*) FILTER (adjusted) "
                f"FROM read_parquet('{_quoted(parquet)}')"
            ).fetchone() or (0, 0, 0)
            run = con.execute(f"SELECT min(run_id) FROM read_parquet('{_quoted(source)}')").fetchone()
        except duckdb.Error as exc:
            raise EngineError(f"DuckDB failed to write the {province} export of {month}: {exc}") from exc
        finally:
            con.close()
        files = []
        for path, fmt in ((parquet, "parquet"), (csv, "csv.gz")):
            out = layout.delivery_key(province, month, os.path.basename(path))
            lake.write_file(out, path)
            size = os.path.getsize(path)
            files.append(
                ExportFile.model_validate({"key": out, "format": fmt, "bytes": size, "sha256": _sha256(path)})
            )
    manifest = ExportManifest(
        month=month,
        province=province,
        run_id=str(run[0]) if run and run[0] is not None else "",
        rows=int(rows),
        changed=int(changed),
        adjusted=int(n_adj),
        columns=[*EXPORT_COLUMNS, *fields],
        files=files,
        written_at=(now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat(timespec="seconds"),
    )
    lake.write_json(layout.delivery_key(province, month, "manifest.json"), manifest.model_dump(mode="json"))
    logger.info("export %s/%s: %s rows (%s changed, %s adjusted)", province, month, rows, changed, n_adj)
    return manifest


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
