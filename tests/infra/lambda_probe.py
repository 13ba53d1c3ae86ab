"""Runs INSIDE an isolated interpreter (``python -S -E``) that sees only the unpacked artifacts.

argv: <task dir> <layer dir> <managed-equivalent dir> <scenario.json>. Prints one JSON line with
what happened. Standard library only until ``sys.path`` is set: this file is not part of the
artifact, it plays the Lambda runtime.
"""

from __future__ import annotations

import importlib
import json
import sys
import sysconfig
import traceback
from pathlib import Path
from typing import Any

task, layer, managed, scenario_path = sys.argv[1:5]
stdlib = {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]}
# Lambda's order: the function code, then the layers' python/ folders (/opt/python).
sys.path[:] = [task, layer, managed, *[p for p in sys.path if any(p.startswith(s) for s in stdlib)]]
scenario: dict[str, Any] = json.loads(Path(scenario_path).read_text(encoding="utf-8"))


class Context:
    function_name = "probe"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    memory_limit_in_mb = 1024

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def call(handler: Any, event: dict[str, Any]) -> dict[str, Any]:
    try:
        return {"ok": True, "result": handler(event, Context())}
    except Exception as exc:
        tb = traceback.format_exc()[-2000:]
        return {"ok": False, "error": type(exc).__name__, "message": str(exc)[:500], "tb": tb}


out: dict[str, Any] = {"calls": {}}
app = importlib.import_module("app")
out["app_file"] = app.__file__
for name, label, event in scenario["calls"]:
    handler = app.app if name == "api_handler" else getattr(app, name)
    out["calls"][f"{name}:{label}"] = call(handler, event)
roots = [task, layer, managed, *stdlib]
out["foreign_modules"] = sorted(
    f"{m}={getattr(mod, '__file__', '')}"
    for m, mod in list(sys.modules.items())
    if m not in ("__main__", "__mp_main__")
    and getattr(mod, "__file__", None)
    and not any(str(mod.__file__).startswith(r) for r in roots)
)
out["module_roots"] = {
    m: str(getattr(sys.modules.get(m), "__file__", None))
    for m in ("functions", "schemas", "pydantic", "chalice", "boto3", "pyarrow", "yaml")
    if m in sys.modules
}
print("PROBE-RESULT " + json.dumps(out, default=str))
