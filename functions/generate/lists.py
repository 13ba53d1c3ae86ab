"""Synthetic tolerance lists (``supervision_lists``, docs/adr/0123) for a generated province:
some new-economy (四新) entities on the whitelist, fewer in the sandbox, as contract text columns."""

from __future__ import annotations

import datetime as dt
import random

import pyarrow as pa

from schemas.datasets import DATASETS

AUTHORITY = "市场监督管理局"
REASONS = {"whitelist": "信用联盟企业（白名单）", "sandbox": "四新低风险企业（沙盒监管）"}


def lists_table(entities: pa.Table, today: dt.date, *, seed: int = 0, limit: int = 300) -> pa.Table:
    """Up to ``limit`` of the new-economy ``entities`` (contract columns), two in three on the
    whitelist and one in three in the sandbox, listed within the year before ``today``; a tenth
    with an explicit ``tolerance_end`` (deterministic)."""
    rng = random.Random(f"lists/{seed}")
    codes = entities.column("uscc").to_pylist()
    flags = entities.column("is_new_economy").to_pylist()
    chosen = [u for u, f in zip(codes, flags, strict=True) if str(f).lower() in ("true", "1")][:limit]
    cols: dict[str, list[str | None]] = {c: [] for c in DATASETS["supervision_lists"].columns}
    for k, code in enumerate(chosen):
        kind = "sandbox" if k % 3 == 2 else "whitelist"
        start = today - dt.timedelta(days=rng.randint(10, 330))
        end = start + dt.timedelta(days=rng.randint(180, 365)) if rng.random() < 0.1 else None
        cols["uscc"].append(code)
        cols["list_type"].append(kind)
        cols["reason"].append(REASONS[kind])
        cols["authority"].append(AUTHORITY)
        cols["listed_from"].append(start.isoformat())
        cols["tolerance_end"].append(end.isoformat() if end else None)
    return pa.table({c: pa.array(v, pa.string()) for c, v in cols.items()})
