"""Names for the codes the report shows: GB/T 2260 regions, GB/T 4754 sections (ADR 0110).

The region table is data shipped beside the contracts (``schemas/gbt2260.json``, with its source
and date); a code it lacks (a new or abolished county) is shown as the bare code, never guessed.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import schemas

TABLE_PATH = Path(schemas.__file__).with_name("gbt2260.json")

SECTIONS: dict[str, str] = {
    "A": "农、林、牧、渔业",
    "B": "采矿业",
    "C": "制造业",
    "D": "电力、热力、燃气及水生产和供应业",
    "E": "建筑业",
    "F": "批发和零售业",
    "G": "交通运输、仓储和邮政业",
    "H": "住宿和餐饮业",
    "I": "信息传输、软件和信息技术服务业",
    "J": "金融业",
    "K": "房地产业",
    "L": "租赁和商务服务业",
    "M": "科学研究和技术服务业",
    "N": "水利、环境和公共设施管理业",
    "O": "居民服务、修理和其他服务业",
    "P": "教育",
    "Q": "卫生和社会工作",
    "R": "文化、体育和娱乐业",
    "S": "公共管理、社会保障和社会组织",
    "T": "国际组织",
}


@cache
def _table() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    return data


def source() -> str:
    """Where the region names come from, and as of when (the report prints it)."""
    t = _table()
    return f"GB/T 2260 names: {t['source']}, as of {t['as_of']}"


def region_name(code: str | None) -> str:
    """The division's own name (``420106`` → 武昌区), or ``""`` when the table lacks the code."""
    if not code:
        return ""
    names: dict[str, str] = _table()["codes"]
    return names.get(code) or _padded(names, code)


def _padded(names: dict[str, str], code: str) -> str:
    """``420100`` (a prefecture written on six digits) is ``4201``'s name."""
    for n in (4, 2):
        if len(code) == 6 and code[n:] == "0" * (6 - n):
            return names.get(code[:n], "")
    return ""


def region_path(code: str | None) -> str:
    """Prefecture and county (``420106`` → 武汉市 武昌区): a county name alone is ambiguous."""
    if not code:
        return ""
    own = region_name(code)
    if len(code) != 6 or not own:
        return own
    parent = region_name(code[:4])
    return f"{parent} {own}" if parent and parent != own and not parent.endswith("市辖区") else own


def section_name(section: str | None) -> str:
    return SECTIONS.get(section or "", "")
