"""The rule every statement that reads an injected-projection table must satisfy (docs/adr/0150).

Athena's documentation ("Use dynamic ID partitioning"): for a partition key projected as
``injected`` the query must include at least one value for it, the values must be literals (or
expressions evaluated without reading data), and otherwise the query fails with
``CONSTRAINT_VIOLATION: ... the WHERE clause must contain only static equality conditions, and
at least one such condition must be present``. It says nothing of subqueries, CTEs or joins. So
the platform holds itself to the form beyond doubt: **each scan** of such a table is the only
source of its SELECT, and that SELECT's own WHERE has ``key = '<literal>'`` (or ``key IN
('<literal>', …)``) as a top-level AND conjunct, with no other condition on the key. A predicate
outside the scan's SELECT (an outer query, a join's ON, a wrapping subquery's caller), an OR, a
non-literal or a missing one is a violation. Pure: parses the statement (sqlglot, Trino), reads
nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

import sqlglot
from sqlglot import exp

from schemas.tables import RESULTS_TABLES

# table name -> its injected partition keys (schemas/tables.py)
INJECTED: dict[str, tuple[str, ...]] = {t.name: t.injected for t in RESULTS_TABLES if t.injected}


def _is_key(node: exp.Expr, key: str, aliases: set[str]) -> bool:
    return isinstance(node, exp.Column) and node.name.lower() == key and (node.table or "") in aliases


def _literal_equality(cond: exp.Expr, key: str, aliases: set[str]) -> bool:
    if isinstance(cond, exp.EQ):
        sides = (cond.this, cond.expression)
        return any(_is_key(a, key, aliases) for a in sides) and any(
            isinstance(b, exp.Literal) and b.is_string for b in sides
        )
    if isinstance(cond, exp.In):
        values = cond.expressions
        return (
            _is_key(cond.this, key, aliases)
            and not cond.args.get("query")
            and bool(values)
            and all(isinstance(v, exp.Literal) and v.is_string for v in values)
        )
    return False


def _conjuncts(where: exp.Expr) -> list[exp.Expr]:
    node = where.unnest()
    if isinstance(node, exp.And):
        return [*_conjuncts(node.this), *_conjuncts(node.expression)]
    return [node]


def violations(sql: str, injected: Mapping[str, tuple[str, ...]] | None = None) -> list[str]:
    """What breaks the rule in ``sql`` (empty when it holds), one sentence per scan and key."""
    tables = INJECTED if injected is None else injected
    out: list[str] = []
    for table in sqlglot.parse_one(sql, read="trino").find_all(exp.Table):
        keys = tables.get(table.name.lower())
        if not keys:
            continue
        select = table.parent
        if not isinstance(select, exp.From) or not isinstance(select.parent, exp.Select):
            out.append(f"{table.name}: scanned outside a SELECT's FROM (a join?)")
            continue
        select = select.parent
        if select.args.get("joins"):
            out.append(f"{table.name}: its SELECT joins other sources")
            continue
        aliases = {"", table.name.lower(), (table.alias or "").lower()}
        where = select.args.get("where")
        conjuncts = _conjuncts(where.this) if where is not None else []
        for key in keys:
            fixed = [c for c in conjuncts if _literal_equality(c, key, aliases)]
            other = [
                c for c in conjuncts if c not in fixed and any(_is_key(n, key, aliases) for n in c.walk())
            ]
            if not fixed:
                out.append(f"{table.name}: no {key} = '<literal>' in the WHERE of the SELECT that scans it")
            if other:
                out.append(f"{table.name}: {key} also in a non-literal condition: {other[0].sql('trino')}")
    return out


def scans(sql: str, injected: Mapping[str, tuple[str, ...]] | None = None) -> int:
    """How many scans of injected-projection tables ``sql`` has (tests: the check saw them)."""
    tables = INJECTED if injected is None else injected
    return sum(
        1 for t in sqlglot.parse_one(sql, read="trino").find_all(exp.Table) if t.name.lower() in tables
    )
