"""A stand-in for Athena in the warnings tests (moto's Athena executes no SQL).

It records every submitted statement and, for an ``UNLOAD``, runs the enclosed query on DuckDB
over the same lake with the Glue tables as the classification's DuckDB engine registers them
(``curated_<dataset>``, ``classifications``), then writes the rows as Parquet where Athena
would. So the tests check the Athena statements' meaning, not just their text.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Any

import pyarrow.parquet as pq

from functions.classify.compile import to_duckdb
from functions.classify.engine_duckdb import connect, register_lake_tables
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
        assert m is not None, f"not an UNLOAD statement:\n{sql[:300]}"
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
