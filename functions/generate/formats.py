"""``--formats mixed``: rewrite some finished CSV files in the other accepted upload formats.

The choice is a fixed rotation over each dataset's files (sorted), so it is deterministic:
GB18030 with Chinese headers, gzip-compressed CSV, JSON Lines, and one Parquet file.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from functions.generate.writer import WRITE_OPTIONS, header_line
from schemas.datasets import DATASETS

FORMATS = ("plain", "mixed")
_ROTATION = ("csv", "gb18030", "csv", "csv.gz", "csv", "jsonl")


def read_strings(path: Path, columns: list[str]) -> pa.Table:
    """A generated CSV read back with every column as text (empty → null)."""
    opts = pacsv.ConvertOptions(
        column_types={c: pa.string() for c in columns}, strings_can_be_null=True, null_values=[""]
    )
    return pacsv.read_csv(path, convert_options=opts)


def csv_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    buf.write(header_line(table.column_names))
    pacsv.write_csv(table, buf, write_options=WRITE_OPTIONS)
    return buf.getvalue()


def plan_formats(files_by_dataset: dict[str, list[str]]) -> dict[str, str]:
    """Relative CSV path → target format for ``--formats mixed``."""
    out: dict[str, str] = {}
    parquet_done = False
    for i, dataset in enumerate(sorted(files_by_dataset)):
        for j, rel in enumerate(sorted(files_by_dataset[dataset])):
            fmt = _ROTATION[(i + j) % len(_ROTATION)]
            if not parquet_done and dataset == "complaints":
                fmt, parquet_done = "parquet", True
            out[rel] = fmt
    return out


def _jsonl(table: pa.Table, dataset: str) -> bytes:
    """Typed JSON values where the text is a clean number/bool, else the text itself."""
    spec = DATASETS[dataset]
    types = {f.name: f.type for f in spec.fields}
    lines = []
    for row in table.to_pylist():
        rec: dict[str, object] = {}
        for k, v in row.items():
            if v is None:
                rec[k] = None
            elif types.get(k) == "bool" and v in ("true", "false"):
                rec[k] = v == "true"
            elif types.get(k) in ("float", "int"):
                try:
                    rec[k] = int(v) if types[k] == "int" else float(v)
                except ValueError:
                    rec[k] = v
            else:
                rec[k] = v
        lines.append(json.dumps(rec, ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode("utf-8")


def convert(root: Path, rel: str, dataset: str, fmt: str) -> tuple[str, str]:
    """Rewrite ``root/rel`` (a generated CSV) as ``fmt``; return (new relative path, encoding)."""
    if fmt == "csv":
        return rel, "utf-8"
    src = root / rel
    table = read_strings(src, list(DATASETS[dataset].columns))
    stem = rel[: -len(".csv")]
    if fmt == "gb18030":
        zh = {f.name: f.zh for f in DATASETS[dataset].fields}
        text = csv_bytes(table.rename_columns([zh[c] for c in table.column_names])).decode("utf-8")
        src.write_bytes(text.encode("gb18030"))
        return rel, "gb18030"
    if fmt == "csv.gz":
        new, data = stem + ".csv.gz", gzip.compress(src.read_bytes(), mtime=0)
    elif fmt == "jsonl":
        new, data = stem + ".jsonl", _jsonl(table, dataset)
    elif fmt == "parquet":
        new = stem + ".parquet"
        buf = io.BytesIO()
        pq.write_table(table, buf)
        data = buf.getvalue()
    else:
        raise ValueError(fmt)
    (root / new).write_bytes(data)
    src.unlink()
    return new, "utf-8" if fmt != "parquet" else "binary"
