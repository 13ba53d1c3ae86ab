"""``python -m bench [NAME ...]``: run benchmarks (all by default); each prints its own ratios.

Each module in ``BENCHES`` exposes ``main(argv: list[str]) -> dict`` and writes its result as
JSON under ``bench/results/``.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

BENCHES: dict[str, str] = {
    "ingest": "bench.ingest",
    # name: module
    "classify": "bench.classify",
    "sampling": "bench.sampling",
    "sampling_ab": "bench.sampling_ab",
    "xlsx": "bench.xlsx",
    "evaluate": "bench.evaluate",
    "classifications": "bench.classifications",
    "report": "bench.report",
    "plan_pages": "bench.plan_pages",
}


def main(argv: list[str]) -> int:
    names = [a for a in argv if not a.startswith("-")] or list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHES)}", file=sys.stderr)
        return 2
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    for name in names:
        print(f"== {name}")
        result = importlib.import_module(BENCHES[name]).main([a for a in argv if a.startswith("-")])
        (out / f"{name}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
