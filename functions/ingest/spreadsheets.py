"""``.xlsx`` / ``.xls`` uploads → a text table named by the sheet's header row (docs/adr/0081).

Hand-made exports put a title row and 说明 (instructions) rows above the header and may hold
several sheets. The header row is found, not configured: in each sheet the first of the top
rows whose cells match the most known headers of the dataset (contract names and aliases,
profile synonyms, roles and personal-data columns) wins; a sheet named after the dataset is
preferred, else the best-matching sheet. Cells are read as text: numbers without a spurious
``.0``, dates as ISO. python-calamine (Rust calamine) reads both formats; it is 2 MB, where
fastexcel's Arrow path would cost 15 MB of a Lambda package that is already near its limit.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from functions.errors import FileRejected
from functions.ingest.profiles import Profile, norm_header
from schemas.datasets import DatasetSpec

logger = logging.getLogger(__name__)

HEADER_SCAN_ROWS = 30  # title and 说明 rows above the header: never more than a few in practice


@dataclass
class Sheet:
    name: str
    headers: list[str]
    table: pa.Table  # string columns named by ``headers``
    lines: pa.Array  # int64, 1-based spreadsheet row of each data row
    header_row: int  # 1-based


def known_headers(spec: DatasetSpec, profile: Profile) -> frozenset[str]:
    """Normalised headers that identify a header row of ``spec`` (any layout the profile knows)."""
    dp = profile.dataset(spec.name)
    keys = {norm_header(f.name) for f in spec.fields} | {norm_header(f.zh) for f in spec.fields}
    for hs in (*dp.columns.values(), *dp.roles.values()):
        keys.update(norm_header(h) for h in hs)
    keys.update(norm_header(h) for h in profile.personal_data_columns)
    return frozenset(keys)


def cell_text(v: Any) -> str | None:
    """A cell as the text a CSV export would hold."""
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return repr(v)
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time(0) else v.isoformat(sep=" ")
    if isinstance(v, dt.date | dt.time):
        return v.isoformat()
    return str(v)


def _reject(reason: str, message: str) -> FileRejected:
    return FileRejected(message, reason=reason)


def _score(row: list[Any], known: frozenset[str]) -> int:
    return sum(1 for c in row if isinstance(c, str) and c.strip() and norm_header(c) in known)


def read_sheet(data: bytes, spec: DatasetSpec, profile: Profile) -> Sheet:
    """The dataset's sheet of an xlsx/xls workbook, as text."""
    from python_calamine import CalamineError, CalamineWorkbook  # imported on use: cold start

    try:
        wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
    except (CalamineError, ValueError, OSError) as exc:
        raise _reject("bad_format", f"not a readable xlsx/xls workbook: {type(exc).__name__}") from None
    known = known_headers(spec, profile)
    wanted = {norm_header(spec.name), norm_header(spec.zh)}
    best: tuple[int, int, int, str, list[list[Any]]] | None = None  # (named, score, row, sheet, rows)
    for i, name in enumerate(wb.sheet_names):
        try:
            rows = wb.get_sheet_by_index(i).to_python(skip_empty_area=False)
        except CalamineError:
            continue
        top = [(_score(r, known), j) for j, r in enumerate(rows[:HEADER_SCAN_ROWS])]
        if not top:
            continue
        score, row = max(top, key=lambda t: (t[0], -t[1]))
        named = int(norm_header(name) in wanted)
        if score >= 2 and (best is None or (named, score) > (best[0], best[1])):
            best = (named, score, row, name, rows)
    if best is None:
        raise _reject(
            "missing_column",
            f"no sheet has a header row with the columns of {spec.name} ({spec.zh}) "
            f"in its first {HEADER_SCAN_ROWS} rows (sheets: {', '.join(wb.sheet_names)})",
        )
    _, _, row, name, rows = best
    raw_headers = [cell_text(c) or "" for c in rows[row]]
    while raw_headers and not raw_headers[-1].strip():
        raw_headers.pop()
    headers = [h.strip() or f"column_{j + 1}" for j, h in enumerate(raw_headers)]
    if len(set(headers)) != len(headers):
        dup = next(h for h in headers if headers.count(h) > 1)
        raise _reject("duplicate_column", f"header {dup!r} appears twice in sheet {name!r}")
    width = len(headers)
    body: list[list[Any]] = []
    lines: list[int] = []
    for j, r in enumerate(rows[row + 1 :], start=row + 2):
        cells = r[:width]
        if any(c is not None and c != "" for c in cells):  # blank rows are layout, not data
            body.append(cells if len(cells) == width else [*cells, *([None] * (width - len(cells)))])
            lines.append(j)
    arrays = []
    for col in zip(*body, strict=True) if body else [() for _ in headers]:
        kinds = set(map(type, col))
        if kinds <= {str, type(None)}:  # text cells: no per-cell conversion
            arrays.append(pa.array(col, pa.string()))
        else:
            arrays.append(pa.array([cell_text(v) for v in col], pa.string()))
    table = pa.Table.from_arrays(arrays, names=headers)
    logger.info("sheet %r: header on row %d, %d data rows", name, row + 1, len(body))
    return Sheet(name, headers, table, pa.array(lines, pa.int64()), row + 1)
