"""Builders for ingestion tests: valid codes, resident IDs, and upload files in every format."""

from __future__ import annotations

import csv
import io

from functions import uscc
from functions.ingest.personal_data import id_check_char

PENALTY_HEADER = [
    "decision_no",
    "uscc",
    "decided_on",
    "authority",
    "domain",
    "kind",
    "amount",
    "repaired_on",
    "withdrawn",
]


def code(i: int, *, region: str = "420102", category: str = "1") -> str:
    return uscc.make(region, f"MA{i:06d}", category=category)


def resident_id(body: str = "42010219900307123") -> str:
    """A checksummed 18-character resident ID (fake person)."""
    return body + id_check_char(body)


def penalty_rows(n: int) -> list[dict[str, str]]:
    return [
        {
            "decision_no": f"鄂市监罚〔2025〕{i}号",
            "uscc": code(i),
            "decided_on": "2025-03-01",
            "authority": "武汉市市场监督管理局",
            "domain": "food",
            "kind": "fine",
            "amount": "1000.5",
            "repaired_on": "",
            "withdrawn": "否",
        }
        for i in range(n)
    ]


def to_csv(
    rows: list[dict[str, str]], header: list[str] | None = None, *, names: dict[str, str] | None = None
) -> str:
    header = header or list(rows[0])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([(names or {}).get(h, h) for h in header])
    for r in rows:
        w.writerow([r.get(h, "") for h in header])
    return buf.getvalue()
