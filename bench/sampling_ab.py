"""Sampling POSTs of this tree against another revision, paired in the same seconds (ADR 0165).

The shared machine's speed moves by 30–40 % in stretches of seconds to minutes, more than most
changes to a POST, so two ``python -m bench sampling`` runs minutes apart cannot tell them
apart. Here two warm API processes, one on this tree and one on ``--against=REV`` (a temporary
``git worktree``), each on its own copy of the bench lake, POST the same scenario in turn: one
POST each per pair, in random order, a core free while the other works. Each pair sees the same
host, so the ratio of its two CPU times (this tree / REV) is what the change did; the median
ratio and its quartiles are reported with each side's p50 / p95.

``--against=REV`` (required), ``--sizes=1000000`` (default), ``--scenarios=province`` (default;
any of :func:`bench.sampling.scenarios`), ``--n=80`` pairs, ``--layout=chunks``.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.sampling import ROOT, _pct, cached_lake, scenarios

_CHILD = """
import json, os, shutil, sys, time
root, lake, body = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
sys.path.insert(0, root)
os.environ["CREDITRISK_LAKE_URI"] = lake
import app
from chalice.test import Client
from functions.auth.tokens import issue_token
from functions.lake import Lake
token, _ = issue_token(Lake.from_uri(lake), name="bench", provinces=[body["province"]])
headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
with Client(app.app) as c:
    def post(i):
        r = c.http.post("/v1/sampling/plans", headers=headers, body=json.dumps(dict(body, seed=f"ab-{i}")))
        if r.status_code != 201:
            raise SystemExit(f"POST answered {r.status_code}: {r.body[:300]!r}")
    for i in range(5):  # warm: imports, row cache, roster
        post(i)
    print("ready", flush=True)
    for i, line in enumerate(sys.stdin, start=100):
        if line.strip() != "go":
            break
        s = time.process_time()
        post(i)
        print(f"{time.process_time() - s:.6f}", flush=True)
"""


def _worktree(rev: str, where: Path) -> Path:
    tree = where / "against"
    cmd = ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), rev]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return tree


def _lake_copy(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("plans", "audit", "bench-floor"))
    return dest


def pair(roots: dict[str, Path], lakes: dict[str, Path], body: dict[str, Any], n: int) -> dict[str, Any]:
    """``n`` paired POSTs of ``body``, one warm process per root."""
    procs = {}
    for k, root in roots.items():
        cmd = [sys.executable, "-c", _CHILD, str(root), str(lakes[k]), json.dumps(body)]
        procs[k] = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=root)
    try:
        for k, p in procs.items():
            assert p.stdout is not None
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError(f"the {k} process did not start (see its stderr above)")
        cpu: dict[str, list[float]] = {k: [] for k in roots}
        ratios = []
        rng = random.Random(15)
        for _ in range(n):
            order = list(roots)
            rng.shuffle(order)
            got = {}
            for k in order:
                p = procs[k]
                assert p.stdin is not None and p.stdout is not None
                p.stdin.write("go\n")
                p.stdin.flush()
                got[k] = float(p.stdout.readline())
                cpu[k].append(got[k])
            ratios.append(got["this"] / got["against"])
    finally:
        for p in procs.values():
            if p.stdin is not None:
                p.stdin.close()
            p.wait(timeout=60)
    ms = {
        k: {"cpu_p50_ms": round(_pct(v, 0.5) * 1e3, 1), "cpu_p95_ms": round(_pct(v, 0.95) * 1e3, 1)}
        for k, v in cpu.items()
    }
    return {
        "pairs": n,
        **ms,
        "ratio_p25": round(_pct(ratios, 0.25), 3),
        "ratio_p50": round(_pct(ratios, 0.5), 3),
        "ratio_p75": round(_pct(ratios, 0.75), 3),
    }


def main(argv: list[str]) -> dict[str, Any]:
    rev = next((a.split("=", 1)[1] for a in argv if a.startswith("--against=")), None)
    if not rev:
        raise SystemExit("sampling_ab needs --against=REV (a commit, tag or branch to compare with)")
    sizes = next((a.split("=", 1)[1] for a in argv if a.startswith("--sizes=")), "1000000").split(",")
    picked = next((a.split("=", 1)[1] for a in argv if a.startswith("--scenarios=")), "province").split(",")
    n = next((int(a.split("=", 1)[1]) for a in argv if a.startswith("--n=")), 80)
    chunked = "--layout=chunks" in argv
    result: dict[str, Any] = {"against": rev, "layout": "chunks" if chunked else "file", "sizes": {}}
    with tempfile.TemporaryDirectory(prefix="creditrisk-ab-") as tmp:
        where = Path(tmp)
        tree = _worktree(rev, where)
        try:
            roots = {"this": ROOT, "against": tree}
            for size in sizes:
                source, info = cached_lake(int(size), False, chunked)
                bodies = scenarios(int(size), info["excluded"])
                unknown = sorted(set(picked) - set(bodies))
                if unknown:
                    raise SystemExit(f"unknown scenario(s) {unknown}; known: {sorted(bodies)}")
                out: dict[str, Any] = {}
                for name in picked:
                    lakes = {k: _lake_copy(source, where / f"{k}-{size}-{name}") for k in roots}
                    out[name] = pair(roots, lakes, bodies[name], n)
                    for lake in lakes.values():
                        shutil.rmtree(lake, ignore_errors=True)
                result["sizes"][size] = out
        finally:
            cmd = ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)]
            subprocess.run(cmd, check=False, capture_output=True)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
