"""A stand-in for Athena in the warnings tests (moto's Athena executes no SQL).

It records every submitted statement and, for an ``UNLOAD``, runs the enclosed query on DuckDB
over the same lake with the Glue tables as the classification's DuckDB engine registers them
(``curated_<dataset>``, ``classifications``), then writes the rows as Parquet where Athena
would. So the tests check the Athena statements' meaning, not just their text.
"""

from __future__ import annotations

import gzip
import io
import re
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from functions import layout
from functions.classify.compile import to_duckdb
from functions.classify.engine_duckdb import conform, connect, register_lake_tables
from functions.lake import Lake

UNLOAD_RE = re.compile(r"^UNLOAD \(\n(?P<query>.*)\n\) TO '(?P<to>[^']+)' WITH \(format = 'PARQUET'\)$", re.S)


@dataclass
class DuckAthena:
    lake: Lake
    fail_on: dict[str, str] = field(default_factory=dict)  # substring of the SQL → final state
    submitted: list[str] = field(default_factory=list)
    files_per_query: int = 2  # UNLOAD writes several files in parallel; so does the fake
    _con: Any = field(default=None, repr=False)

    def start(self, sql: str) -> str:
        self.submitted.append(sql)
        return f"q{len(self.submitted)}"

    def wait(self, query_id: str) -> dict[str, Any]:
        sql = self.submitted[int(query_id[1:]) - 1]
        for needle, state in self.fail_on.items():
            if needle in sql:
                return {
                    "State": state,
                    "StateChangeReason": "TABLE_NOT_FOUND: line 3:8: Table 'x' does not exist",
                }
        m = UNLOAD_RE.match(sql)
        if m is None:  # the export's UNLOADs (zstd Parquet, gzip text; ADR 0152): played as Athena
            return TableAthena(self.lake, unload_files=self.files_per_query).play(sql, query_id)
        if self._con is None:  # the lake's tables do not change during one run
            self._con = connect()
            register_lake_tables(self._con, self.lake)
        table = self._con.sql(to_duckdb(m.group("query"))).to_arrow_table()
        prefix = m.group("to").removeprefix(self.lake.uri.rstrip("/") + "/").rstrip("/")
        assert not self.lake.list_files(prefix), "UNLOAD needs an empty destination"
        if table.num_rows:
            step = max(1, -(-table.num_rows // self.files_per_query))
            for i in range(0, table.num_rows, step):
                buf = io.BytesIO()
                pq.write_table(table.slice(i, step), buf)
                self.lake.write_bytes(f"{prefix}/20261102_000000_{query_id}_{i:05d}", buf.getvalue())
        return {"State": "SUCCEEDED", "StateChangeReason": ""}

    @property
    def unloads(self) -> list[str]:
        return [s for s in self.submitted if s.startswith("UNLOAD")]


_ANY_UNLOAD_RE = re.compile(r"^UNLOAD \(\n(?P<query>.*)\n\) TO '(?P<to>[^']+)' WITH \((?P<props>.*)\)$", re.S)
_PARTITIONED_RE = re.compile(r"partitioned_by = ARRAY\['(?P<col>\w+)'\]")
_CTAS_RE = re.compile(r"^CREATE TABLE (?P<name>[\w.]+) WITH \(.*?\) AS\n(?P<query>.*)$", re.S)


@dataclass
class TableAthena:
    """Athena in the platform workgroup, played on DuckDB, with the tables a run creates.

    - ``CREATE TABLE … AS``: fails with an ``external_location`` (enforced workgroup); writes its
      rows under ``<output>/tables/<query id>/`` and knows the table by name until ``DROP TABLE``.
    - ``UNLOAD``: an unpartitioned one needs an empty destination and writes ``unload_files``
      files (``format = 'TEXTFILE'``: gzip lines, no header, as Athena); a partitioned one writes
      ``<to>/<col>=<value>/`` folders (the partition column is not in the files) and fails with
      HIVE_TOO_MANY_OPEN_PARTITIONS past 100 partitions. Each partition's rows are dealt
      round-robin over ``files_per_partition`` files: each file keeps the statement's order, the
      files are interleaved (all Athena guarantees: no global order of files).
    Every query must parse as Trino SQL."""

    lake: Lake
    files_per_partition: int = 2
    unload_files: int = 1  # files an unpartitioned UNLOAD writes (in slices of its ordered rows)
    submitted: list[str] = field(default_factory=list)
    tables: dict[str, str] = field(default_factory=dict)  # name → key of its data

    def start(self, sql: str) -> str:
        self.submitted.append(sql)
        return f"q{len(self.submitted)}"

    def wait(self, query_id: str) -> dict[str, Any]:
        return self.play(self.submitted[int(query_id[1:]) - 1], query_id)

    def play(self, sql: str, query_id: str) -> dict[str, Any]:
        """Run ``sql`` as Athena would (another stand-in may delegate to this)."""
        if sql.startswith("DROP TABLE IF EXISTS "):
            self.tables.pop(sql.removeprefix("DROP TABLE IF EXISTS ").strip(), None)
            return _done()
        if sql.startswith("CREATE TABLE"):
            if "external_location" in sql:
                return _failed("external_location in an enforced workgroup")
            m = _CTAS_RE.match(sql)
            assert m is not None, sql[:300]
            table = conform(self._query(m.group("query")))
            key = f"{layout.ATHENA_PLATFORM_RESULTS}/tables/{query_id}/20261102_000000_00001_bucket-00000"
            self.lake.write_bytes(key, _parquet(table))
            self.tables[m.group("name")] = key
            return _done()
        m = _ANY_UNLOAD_RE.match(sql)
        assert m is not None, f"not a statement the stand-in knows:\n{sql[:300]}"
        table = self._query(m.group("query"))
        prefix = m.group("to").removeprefix(self.lake.uri.rstrip("/") + "/").rstrip("/")
        by = _PARTITIONED_RE.search(m.group("props"))
        if by is None:
            if self.lake.list_files(prefix, include_hidden=True):
                return _failed("HIVE_PATH_ALREADY_EXISTS: the UNLOAD destination is not empty")
            text = "format = 'TEXTFILE'" in m.group("props")
            if text:  # Hive text: one line per row, columns joined by ^A, no header, no quoting
                assert "compression = 'GZIP'" in m.group("props"), "the stand-in writes gzip text only"
            step = max(1, -(-table.num_rows // self.unload_files))
            for n, i in enumerate(range(0, max(table.num_rows, 1), step)):
                part = table.slice(i, step)
                if text:
                    lines = ["\x01".join("\\N" if v is None else str(v) for v in row.values())
                             for row in part.to_pylist()]  # fmt: skip
                    data = gzip.compress("".join(line + "\n" for line in lines).encode(), mtime=0)
                    self.lake.write_bytes(f"{prefix}/{query_id}_{n:05d}.gz", data)
                else:
                    self.lake.write_bytes(f"{prefix}/{query_id}_{n:05d}", _parquet(part))
            return _done()
        col = by.group("col")
        assert table.column_names[-1] == col, "partition columns come last"
        values = table[col].to_pylist()
        if len(set(values)) > 100:
            return _failed(
                "HIVE_TOO_MANY_OPEN_PARTITIONS: Exceeded limit of 100 open writers for partitions/buckets"
            )
        rows = table.drop_columns([col])
        for value in dict.fromkeys(values):
            idx = [i for i, v in enumerate(values) if v == value]
            for f in range(min(self.files_per_partition, len(idx))):
                part = rows.take(idx[f :: self.files_per_partition])
                self.lake.write_bytes(f"{prefix}/{col}={value}/{query_id}_{f:05d}", _parquet(part))
        return _done()

    def _query(self, query: str) -> pa.Table:
        import sqlglot

        sqlglot.parse_one(query, read="trino")
        con = connect()
        try:
            register_lake_tables(con, self.lake)
            for name, key in self.tables.items():
                schema, _, table = name.rpartition(".")
                con.register(f"t_{table}", self.lake.read_parquet(key))
                if schema:
                    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
                con.execute(f"CREATE VIEW {name} AS SELECT * FROM t_{table}")
            return con.sql(to_duckdb(query)).to_arrow_table()
        finally:
            con.close()

    def statements(self, head: str) -> list[str]:
        return [s for s in self.submitted if s.startswith(head)]


def _parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _done() -> dict[str, Any]:
    return {"State": "SUCCEEDED", "StateChangeReason": ""}


def _failed(reason: str) -> dict[str, Any]:
    return {"State": "FAILED", "StateChangeReason": reason}
