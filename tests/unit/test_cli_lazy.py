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

from functions.cli import COMMANDS, HELP, cli

ROOT = Path(__file__).resolve().parents[2]
HEAVY = (
    "pandas", "duckdb", "pyarrow", "sqlglot", "awswrangler",
    "functions.analysis.engine", "functions.classify.run", "functions.classify.compile",
    "functions.warnings.engine", "functions.generate",
)  # fmt: skip


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_name_is_its_modules_command(name: str) -> None:
    command = importlib.import_module(COMMANDS[name]).command
    assert isinstance(command, click.Command) and command.name == name
    assert cli.get_command(click.Context(cli), name) is command


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_listed_help_is_its_modules_own(name: str) -> None:
    """The top-level help lists :data:`HELP` without importing the modules: each line must be what
    click derives from the command's docstring, so the listing never drifts from the command."""
    assert set(HELP) == set(COMMANDS)
    command = importlib.import_module(COMMANDS[name]).command
    assert HELP[name] == command.get_short_help_str(limit=10_000)


@pytest.mark.parametrize("width", [80, 60])
def test_the_lazy_command_list_is_the_one_click_would_print(width: int) -> None:
    """Same rows, same shortening as click's own listing over the imported commands."""
    eager = click.Group(
        "creditrisk", commands={n: importlib.import_module(m).command for n, m in COMMANDS.items()}
    )
    printed = []
    for group in (cli, eager):
        formatter = click.HelpFormatter(width=width)
        group.format_commands(click.Context(group), formatter)
        printed.append(formatter.getvalue())
    assert printed[0] == printed[1] and printed[0].count("\n") == len(COMMANDS) + 1


def _loaded_after(*args: str) -> tuple[int, str, list[str]]:
    """``creditrisk ARGS`` in a subprocess; its exit status, stdout and the heavy modules and the
    command modules loaded."""
    watched = (*HEAVY, *COMMANDS.values())
    script = textwrap.dedent(
        f"""
        import atexit, json, sys
        atexit.register(lambda: print("LOADED " + json.dumps(
            sorted(m for m in {watched!r} if m in sys.modules)), file=sys.stderr))
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
    assert loaded == [COMMANDS["token"]]
    code, out, loaded = _loaded_after("--help")
    assert code == 0
    section = out.split("Commands:")[1].split("\n\n")[0]
    listed = {line.split()[0] for line in section.splitlines() if line.strip()}
    assert listed == set(COMMANDS)
    assert loaded == []  # the list comes from HELP: no command module, no engine (ADR 0155)


@pytest.mark.parametrize("args", [("evaluate", "--bogus"), ("evaluate", "--from", "2026-01")])
def test_an_evaluate_usage_error_loads_no_engine(args: tuple[str, ...]) -> None:
    """A usage error is exit 2 before any work: it cost 1.3 CPU-s while ``functions.analysis``
    imported the engine and ``schemas`` imported pyarrow (docs/adr/0151)."""
    code, _, loaded = _loaded_after(*args)
    assert code == 2 and loaded == [COMMANDS["evaluate"]]


def test_listing_warnings_loads_no_engine(tmp_path: Path) -> None:
    """``warnings --list`` reads stored warnings: no DuckDB, sqlglot or classifier (they cost
    ~1 CPU-s per subprocess while the package ``functions.classify`` re-exported its engine and
    the scope check lived in the rules' engine, docs/adr/0159)."""
    lake = str(tmp_path / "lake")
    code, out, loaded = _loaded_after(
        "--lake", lake, "warnings", "--month", "2026-10", "--province", "42", "--list"
    )
    assert code == 0 and out.strip() == "0 warnings"
    assert not {"duckdb", "sqlglot", "functions.classify.run", "functions.warnings.engine"} & set(loaded), (
        loaded
    )


@pytest.mark.parametrize("name", ["report", "county-pages", "warnings"])
def test_a_bad_scope_is_a_usage_error_before_any_engine(name: str) -> None:
    code, _, loaded = _loaded_after(name, "--month", "2026-13", "--province", "42")
    assert code == 2 and loaded == [COMMANDS[name]]
