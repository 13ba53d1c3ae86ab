"""``creditrisk`` imports a command's module only when that command runs (docs/adr/0137)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import pytest

from functions.cli import COMMANDS, cli

ROOT = Path(__file__).resolve().parents[2]
HEAVY = (
    "pandas", "duckdb", "pyarrow", "sqlglot", "awswrangler",
    "functions.analysis.engine", "functions.classify", "functions.generate",
)  # fmt: skip


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_name_is_its_modules_command(name: str) -> None:
    command = importlib.import_module(COMMANDS[name]).command
    assert isinstance(command, click.Command) and command.name == name
    assert cli.get_command(click.Context(cli), name) is command


def _loaded_after(*args: str) -> tuple[int, str, list[str]]:
    """``creditrisk ARGS`` in a subprocess; its exit status, stdout and the heavy modules loaded."""
    script = textwrap.dedent(
        f"""
        import atexit, json, sys
        atexit.register(lambda: print("LOADED " + json.dumps(
            sorted(m for m in {HEAVY!r} if m in sys.modules)), file=sys.stderr))
        sys.argv = ["creditrisk", *{list(args)!r}]
        from functions.cli import main
        main()
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    line = next(x for x in proc.stderr.splitlines() if x.startswith("LOADED "))
    return proc.returncode, proc.stdout, json.loads(line.removeprefix("LOADED "))


def test_a_light_command_loads_no_engine_and_the_top_level_help_lists_every_command() -> None:
    code, out, loaded = _loaded_after("token", "--help")
    assert code == 0 and "Usage: creditrisk token" in out
    assert loaded == []
    code, out, loaded = _loaded_after("--help")
    assert code == 0
    section = out.split("Commands:")[1].split("\n\n")[0]
    listed = {line.split()[0] for line in section.splitlines() if line.strip()}
    assert listed == set(COMMANDS)
    assert "functions.generate" in loaded  # listing a command's help imports its module


@pytest.mark.parametrize("args", [("evaluate", "--bogus"), ("evaluate", "--from", "2026-01")])
def test_an_evaluate_usage_error_loads_no_engine(args: tuple[str, ...]) -> None:
    """A usage error is exit 2 before any work: it cost 1.3 CPU-s while ``functions.analysis``
    imported the engine and ``schemas`` imported pyarrow (docs/adr/0151)."""
    code, _, loaded = _loaded_after(*args)
    assert code == 2 and loaded == []
