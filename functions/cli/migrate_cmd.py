"""``creditrisk migrate``: one-off, idempotent migrations of stored results (docs/operations.md)."""

from __future__ import annotations

import json
from typing import Any

import click

from functions.cli.common import lake_from


@click.group("migrate")
def command() -> None:
    """One-off migrations; each is idempotent (a second run changes nothing)."""


def _province(province: str | None) -> str | None:
    from functions import layout
    from functions.errors import InvalidInput

    if province is not None and not layout.PROVINCE_RE.match(province):
        raise InvalidInput("province must be a two-digit GB/T 2260 code", field="province")
    return province


def _finish(ctx: click.Context, result: Any, dry_run: bool, as_json: bool, summary: str) -> None:
    """Print the outcome (``summary`` or JSON), the conflicts on stderr; exit 1 when any."""
    if as_json:
        click.echo(json.dumps({**result.to_dict(), "dry_run": dry_run}, indent=2))
    else:
        click.echo(summary)
        for key in result.conflicts:
            click.echo(f"conflict (left as is): {key}", err=True)
    if result.conflicts:
        ctx.exit(1)


@command.command("partition-columns")
@click.option("--province", default=None, help="two-digit province code (default: every province)")
@click.option("--dry-run", is_flag=True, help="list what would be rewritten, change nothing")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.pass_context
def partition_columns(ctx: click.Context, province: str | None, dry_run: bool, as_json: bool) -> None:
    """Drop the partition keys old warnings/tasks files repeat as columns (ADR 0105).

    Exit status 1 when a file's column disagrees with its path (listed, not rewritten)."""
    from functions.warnings.migrate import drop_partition_columns

    result = drop_partition_columns(lake_from(ctx), province=_province(province), dry_run=dry_run)
    verb = "would rewrite" if dry_run else "rewrote"
    summary = f"{verb} {len(result.rewritten)} files; {result.unchanged} already without the columns"
    _finish(ctx, result, dry_run, as_json, summary)


@command.command("analysis-tables")
@click.option("--province", default=None, help="two-digit province code (default: every province)")
@click.option("--dry-run", is_flag=True, help="list what would be moved, change nothing")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.pass_context
def analysis_tables(ctx: click.Context, province: str | None, dry_run: bool, as_json: bool) -> None:
    """Move the regions/industries/migration tables out of results/analysis/ (ADR 0149).

    Exit status 1 when a legacy file does not fit its contract (listed, left as is)."""
    from functions.analysis.migrate import migrate_analysis_tables

    result = migrate_analysis_tables(lake_from(ctx), province=_province(province), dry_run=dry_run)
    verb = "would move" if dry_run else "moved"
    summary = f"{verb} {len(result.moved)} files; {len(result.superseded)} already newer at the new key" + (
        " (would delete the legacy copy)" if dry_run else " (legacy copy deleted)"
    )
    _finish(ctx, result, dry_run, as_json, summary)
