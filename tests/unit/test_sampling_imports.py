"""The sampling path (handler module + a plan request) never imports the heavy engines."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from functions.auth.tokens import issue_token
from functions.lake import Lake
from tests.sampling_data import publish, results_table

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("pandas", "awswrangler", "duckdb", "sqlglot")


def test_app_and_a_plan_request_import_no_engines(local_lake: Lake) -> None:
    # The lake is written here: building test tables with pa.table(dict) imports pandas.
    publish(local_lake, results_table("42", 200), "2026-10", "42")
    token, _ = issue_token(local_lake, name="t", provinces=["42"])
    script = textwrap.dedent(
        f"""
        import json, os, sys
        os.environ["CREDITRISK_LAKE_URI"] = {local_lake.uri!r}
        sys.path.insert(0, {str(ROOT)!r})
        import app
        from chalice.test import Client
        ratios = {{"A": 0.1, "D": 1}}  # staffed from the roster publish() wrote
        body = {{"month": "2026-10", "province": "42", "ratios": ratios, "inspectors": {{"field": "food"}},
                "mode": "test"}}
        with Client(app.app) as c:
            h = {{"Authorization": "Bearer {token}", "Content-Type": "application/json"}}
            r = c.http.post("/v1/sampling/plans", headers=h, body=json.dumps(body))
            plan = json.loads(r.body)
            g = c.http.get("/v1/classifications/" + plan["targets"][0]["uscc"] + "?month=2026-10", headers=h)
            p = c.http.get("/v1/sampling/plans/" + plan["plan_id"], headers=h)
        print(json.dumps({{"status": [r.status_code, g.status_code, p.status_code],
                          "loaded": sorted(m for m in {FORBIDDEN!r} if m in sys.modules)}}))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status"] == [201, 200, 200]
    assert result["loaded"] == []
