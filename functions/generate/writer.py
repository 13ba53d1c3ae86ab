"""Streaming CSV sink: one open writer per output file, fed chunk by chunk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from functions.layout import incoming_key

WRITE_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="needed")


def header_line(names: list[str]) -> bytes:
    """A plain header line (pyarrow would quote every header name)."""
    return (",".join(names) + "\n").encode("utf-8")


class CsvSink:
    """Appends all-string tables to ``incoming/<PP>/<dataset>/<file>.csv`` under ``root``."""

    def __init__(self, root: Path, province: str) -> None:
        self.root = root
        self.province = province
        self._writers: dict[str, tuple[pacsv.CSVWriter, object]] = {}
        self.rows: dict[str, int] = {}  # relative path → rows written
        self.dataset_of: dict[str, str] = {}

    def path_of(self, dataset: str, file: str) -> str:
        return incoming_key(self.province, dataset, f"{file}.csv")

    def write(self, dataset: str, table: pa.Table) -> None:
        """Write ``table`` (with a ``_file`` column) to its files, keeping row order per file."""
        if table.num_rows == 0:
            return
        enc = table["_file"].combine_chunks().dictionary_encode()
        codes = enc.indices.to_numpy()
        names = enc.dictionary.to_pylist()
        counts = np.bincount(codes, minlength=len(names))
        data = table.drop_columns(["_file"])
        if len(names) > 1:  # most chunks of entities/relationships go to one file: no reordering
            data = data.take(pa.array(np.argsort(codes, kind="stable")))
        start = 0
        # Slices follow code order (stable sort keeps each file's rows in their original order).
        for code, name in enumerate(names):
            n = int(counts[code])
            self._writer(dataset, name, data.schema).write_table(data.slice(start, n))
            rel = self.path_of(dataset, name)
            self.rows[rel] = self.rows.get(rel, 0) + n
            start += n

    def _writer(self, dataset: str, file: str, schema: pa.Schema) -> pacsv.CSVWriter:
        rel = self.path_of(dataset, file)
        entry = self._writers.get(rel)
        if entry is None:
            path = self.root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            sink = pa.OSFile(str(path), "wb")
            sink.write(header_line(schema.names))
            entry = (pacsv.CSVWriter(sink, schema, write_options=WRITE_OPTIONS), sink)
            self._writers[rel] = entry
            self.dataset_of[rel] = dataset
        return entry[0]

    def close(self) -> None:
        for writer, sink in self._writers.values():
            writer.close()
            sink.close()  # type: ignore[attr-defined]
        self._writers.clear()
