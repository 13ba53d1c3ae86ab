"""Plans are stored once and never overwritten (``plans/<PP>/<plan_id>.json``)."""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING, Any

from functions import layout
from functions.errors import Conflict, InvalidInput, NotFound

if TYPE_CHECKING:
    from functions.lake import Lake


def new_plan_id(province: str) -> str:
    """``PP-<20 hex>``: the province comes first so scope is checked before any lookup."""
    return f"{province}-{secrets.token_hex(10)}"


def province_of_plan(plan_id: str) -> str:
    m = layout.PLAN_ID_RE.match(plan_id)
    if not m:
        raise InvalidInput("plan_id must look like PP-<20 hex characters>", field="plan_id")
    return m.group(1)


def dumps(plan: dict[str, Any]) -> str:
    """The one serialisation of a plan: what is stored is byte-for-byte what is answered."""
    return json.dumps(plan, ensure_ascii=False, separators=(",", ":"))


def store_plan(lake: Lake, plan: dict[str, Any]) -> str:
    """Write a new plan; refuses to overwrite (immutability). Returns the stored JSON text."""
    key = layout.plan_key(plan["province"], plan["plan_id"])
    if lake.exists(key):
        raise Conflict(f"plan {plan['plan_id']} already exists and is immutable", field="plan_id")
    text = dumps(plan)
    lake.write_bytes(key, text.encode("utf-8"), metadata={"Content-Type": "application/json"})
    return text


def load_plan_text(lake: Lake, plan_id: str) -> str:
    """The stored plan, unchanged (scope must have been checked by the caller)."""
    key = layout.plan_key(province_of_plan(plan_id), plan_id)
    try:
        return lake.read_bytes(key).decode("utf-8")
    except FileNotFoundError:
        raise NotFound(f"no plan {plan_id}", field="plan_id") from None


def load_plan(lake: Lake, plan_id: str) -> dict[str, Any]:
    plan: dict[str, Any] = json.loads(load_plan_text(lake, plan_id))
    return plan
