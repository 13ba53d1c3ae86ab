"""Peak RSS of ``GET …/targets`` and ``GET …/plans/{id}`` of a large stored plan, read through
its page index and parsed whole (docs/adr/0158). Each GET runs in a fresh process.

``python -m bench plan_pages [--targets=500000]``
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from typing import Any

from functions import layout
from functions.lake import Lake
from functions.sampling import plans


def _plan(n: int) -> dict[str, Any]:
    targets = [
        {"uscc": f"91420100{i:010d}", "name": f"湖北某某有限公司{i}", "risk_class": "D",
         "region_code": "420102", "industry_code": "C13",
         "inspectors": [f"4201-{i % 20:03d}", f"4201-{(i + 7) % 20:03d}"]}
        for i in range(n)
    ]  # fmt: skip
    return {"plan_id": plans.new_plan_id("42"), "month": "2026-10", "strata": [], "targets": targets,
            "inspector_loads": None, "request": {"province": "42"}}  # fmt: skip


def _hwm_mb() -> float:
    """Peak RSS of this process image (``VmHWM``; ``ru_maxrss`` would carry the parent's over exec)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024


def _child(uri: str, plan_id: str, what: str) -> None:
    lake = Lake.from_uri(uri)
    base = _hwm_mb()
    cpu = time.process_time()
    if what == "plan":
        out = plans.plan_answer(lake, plan_id)
    else:
        offset = int(what)
        out = plans.targets_page(lake, plan_id, offset, 10_000)
    print(json.dumps({"cpu_s": time.process_time() - cpu, "base_mb": base,
                      "peak_mb": _hwm_mb(), "bytes": len(out)}))  # fmt: skip


def _run(uri: str, plan_id: str, what: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.plan_pages", "--child", uri, plan_id, what]
    result: dict[str, Any] = json.loads(
        subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    )
    return result


def main(argv: list[str]) -> dict[str, Any]:
    n = next((int(a.split("=", 1)[1]) for a in argv if a.startswith("--targets=")), 500_000)
    with tempfile.TemporaryDirectory() as tmp:
        lake = Lake.from_uri(tmp)
        plan = _plan(n)
        stored = plans.store_plan_text(lake, "42", plans.plan_text_of(plan))
        plan_id = plan["plan_id"]
        del plan
        index_key = layout.plan_pages_key("42", plan_id)
        index = lake.read_bytes(index_key)
        out: dict[str, Any] = {"targets": n, "plan_mb": stored.size / 2**20, "index_kb": len(index) / 1024}
        for what in ("plan", "0", str(n // 2), str(n - 10)):
            out[f"indexed {what}"] = _run(tmp, plan_id, what)
        lake.delete(index_key)
        for what in ("plan", str(n - 10)):
            out[f"parsed {what}"] = _run(tmp, plan_id, what)
    for k, v in out.items():
        print(f"{k}: {v}")
    return out


if __name__ == "__main__" and sys.argv[1:2] == ["--child"]:
    _child(*sys.argv[2:5])
