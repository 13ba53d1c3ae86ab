"""Print a stage's platform-stack parameters for ``aws cloudformation deploy --parameter-overrides``.

Stages live in one place (``infra/stages/<stage>.json``); this keeps the deploy commands in
docs/deploy.md free of copied numbers.
"""

from __future__ import annotations

import sys

from infra.package import PackageError, load_stage


def overrides(stage: str) -> list[str]:
    cfg = load_stage(stage)
    return [f"Stage={cfg['stage']}", *(f"{k}={v}" for k, v in cfg["platform"].items())]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m infra.params <stage>", file=sys.stderr)
        return 2
    try:
        print(" ".join(overrides(args[0])))
    except PackageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
