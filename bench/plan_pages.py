"""Peak RSS of ``GET …/targets`` and ``GET …/plans/{id}`` of a large stored plan, read through
its page index and parsed whole (docs/adr/0158). Each GET runs in a fresh process.

Also what checking the index against the audit chain would add to each GET, and what
``plan verify``'s whole check of the index costs (docs/adr/0162): storage reads, signature
checks and CPU seconds, on a chain where the plan's record is the farthest from a signed
checkpoint.

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
from functions.sampling import audit, page_index, plans
from functions.sampling.signing import HmacSigner


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
        out.update(_chain_costs(lake, plan_id, stored.sha256))
        lake.delete(index_key)
        for what in ("plan", str(n - 10)):
            out[f"parsed {what}"] = _run(tmp, plan_id, what)
    for k, v in out.items():
        print(f"{k}: {v}")
    return out


class _Counted(Lake):
    """The same lake, counting what would each be one request to S3."""

    def __init__(self, inner: Lake) -> None:
        self.__dict__.update(inner.__dict__)
        self.reads = 0

    def read_bytes(self, key: str) -> bytes:
        self.reads += 1
        return super().read_bytes(key)

    def info(self, key: str) -> Any:
        self.reads += 1
        return super().info(key)


class _CountedSigner(HmacSigner):
    checks = 0

    def verify(self, message: bytes, signature: str) -> bool:
        self.checks += 1
        return super().verify(message, signature)


def _chain_costs(lake: Lake, plan_id: str, subject: str, repeat: int = 50) -> dict[str, Any]:
    """Per GET: reading the plan's chain record to compare the index's digest (the record taken on
    its word), or proving the record from a signed checkpoint or head (``audit.locate``: a record
    at the farthest from a checkpoint, 31 records to walk); and ``plan verify``'s whole check."""
    signer = _CountedSigner(b"\x01" * 32)
    at = "2026-11-01T00:00:00.000+00:00"
    digest = page_index.digest(lake, plan_id)
    for i in range(1, 64):  # the plan's record at 33: the next checkpoint (64) is not written yet
        ref, kind = (plan_id, "test_plan") if i == 33 else (f"42-{i:020x}", "task")
        audit.append(lake, signer, "42", kind, ref, subject if i == 33 else "0" * 64, at, page_index=digest)
    counted = _Counted(lake)
    out: dict[str, Any] = {}

    def record_only() -> bool:
        entry = audit.read_object(counted, layout.audit_ref_key("42", "test_plan", plan_id)) or {}
        rec = audit.read_object(counted, layout.audit_record_key("42", int(entry["seq"]))) or {}
        return bool(rec.get(page_index.MEMBER) == page_index.digest(counted, plan_id))

    def proven() -> bool:
        found = audit.locate(counted, signer, "42", ("test_plan",), plan_id)
        return found.ok and found.records[0].get(page_index.MEMBER) == page_index.digest(counted, plan_id)

    for name, check in (("GET + chain record", record_only), ("GET + proven record", proven)):
        counted.reads, signer.checks = 0, 0
        cpu = time.process_time()
        assert all(check() for _ in range(repeat))
        cpu_ms = 1000 * (time.process_time() - cpu) / repeat
        out[name] = {"cpu_ms": cpu_ms, "storage_reads": counted.reads / repeat,
                     "signature_checks": signer.checks / repeat}  # fmt: skip
    data = lake.read_bytes(layout.plan_key("42", plan_id))
    cpu = time.process_time()
    targets = json.loads(data)["targets"]
    parse = time.process_time() - cpu
    record = {page_index.MEMBER: digest}
    cpu = time.process_time()
    problems, _ = page_index.problems(lake, plan_id, data, targets, record)
    out["verify: index checked whole"] = {"cpu_s": time.process_time() - cpu, "plan_parse_cpu_s": parse,
                                          "problems": len(problems)}  # fmt: skip
    return out


if __name__ == "__main__" and sys.argv[1:2] == ["--child"]:
    _child(*sys.argv[2:5])
