"""``creditrisk warnings``: run the early-warning rules for a month, or list what was raised."""

from __future__ import annotations

import datetime as dt
import json

import click

from functions.cli.common import lake_from, settings_from


@click.command("warnings")
@click.option("--month", required=True, help="YYYY-MM")
@click.option("--province", required=True, help="two-digit province code")
@click.option("--rule", "rules", multiple=True, help="only this rule id (repeatable)")
@click.option("--list", "list_only", is_flag=True, help="list stored warnings; do not run the rules")
@click.option(
    "--state",
    type=click.Choice(["open", "resolved", "retracted"]),
    default=None,
    help="with --list: only warnings in this state (default: all, with their state)",
)
@click.option("--by", "actor", default=None, help="who runs it (recorded with each state change)")
@click.option("--cutoff", default=None, help="ISO time: use data ingested up to then (default: now)")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@click.pass_context
def command(
    ctx: click.Context,
    month: str,
    province: str,
    rules: tuple[str, ...],
    list_only: bool,
    state: str | None,
    actor: str | None,
    cutoff: str | None,
    as_json: bool,
) -> None:
    """Early warnings (监测预警): run the rules (new warnings open, gone ones resolved or
    retracted, data gaps named) or list the stored warnings with their state."""
    from functions.errors import InvalidInput
    from functions.layout import validate_scope

    validate_scope(month, province)
    lake = lake_from(ctx)
    if not list_only:
        from functions.warnings.engine import run_warnings  # the rules' engine: not for --list

        try:
            now = dt.datetime.fromisoformat(cutoff) if cutoff else dt.datetime.now(dt.UTC)
        except ValueError:
            raise InvalidInput("--cutoff must be an ISO date-time", field="cutoff") from None
        if now.tzinfo is None:
            now = now.replace(tzinfo=dt.UTC)
        res = run_warnings(
            lake,
            month=month,
            province=province,
            trigger="manual",
            now=now,
            settings=settings_from(ctx),
            rules=list(rules) or None,
            actor=actor,
        )
        if as_json:
            click.echo(json.dumps(res.to_dict(), ensure_ascii=False, indent=2))
            return
        click.echo(
            f"run {res.run_id} ({res.rule_set}, classes of {res.class_month or 'none'}): "
            f"{res.raised} new warnings, {res.duplicates} already raised, {res.tasks} inspection tasks"
            f"; {res.resolved} resolved, {res.retracted} retracted, {res.reopened} reopened"
        )
        for gap in res.data_gaps:
            click.echo(f"  data gap: {gap} (rules held back: {', '.join(res.blocked_rules)})")
        for rule_id, n in res.by_rule.items():
            click.echo(f"  {rule_id:<28} {n:>7}")
        if res.notify_error:
            click.echo(
                f"warning: notification failed ({res.notify_error}); tasks are in {res.tasks_key}", err=True
            )
        return
    from functions.warnings.store import load_warnings

    table = load_warnings(lake, month, province, rule=rules[0] if len(rules) == 1 else None, state=state)
    rows = [r for r in table.to_pylist() if not rules or r["rule_id"] in rules]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return
    for r in rows:
        click.echo(
            f"{r['event_on'] or '-':<10}  {r['state']:<9} {r['severity']:<8} {r['rule']:<30} "
            f"{r['uscc'] or '-'}  {r['evidence']}"
        )
    click.echo(f"{len(rows)} warnings")
