"""``creditrisk audit``: check a province's sampling audit chain and repair what crashed writers left."""

from __future__ import annotations

import getpass
from collections import Counter

import click

from functions.cli.common import lake_from, settings_from


@click.group("audit")
def command() -> None:
    """The sampling audit chain (tasks, plans, supersessions; docs/adr/0095, 0140)."""


@command.command("verify")
@click.option("--province", required=True, help="two-digit province code")
@click.pass_context
def verify_cmd(ctx: click.Context, province: str) -> None:
    """Check every record, link, checkpoint and the signed head, and that no record is left
    beyond the head. Exit 1 on any problem."""
    from functions.sampling import audit
    from functions.sampling.signing import signer_from_settings

    lake = lake_from(ctx)
    check = audit.check_chain(lake, signer_from_settings(settings_from(ctx), lake), province)
    for problem in check.problems:
        click.echo(f"problem: {problem}")
    kinds = Counter(str(r.get("kind")) for r in check.records)
    # official plans and test plans counted apart: a test plan is never an official one (ADR 0141)
    counts = ", ".join(f"{k} {kinds[k]}" for k in audit.KINDS)
    click.echo(
        f"province {province}: {len(check.records)} records ({counts}), " + ("ok" if check.ok else "NOT ok")
    )
    if not check.ok:
        ctx.exit(1)


@command.command("repair")
@click.option("--province", required=True, help="two-digit province code")
@click.option(
    "--dry-run", is_flag=True, help="say what would be done; write nothing (exit 1 if anything would)"
)
@click.pass_context
def repair_cmd(ctx: click.Context, province: str, dry_run: bool) -> None:
    """Finish (or set aside) the appends writers left unfinished; recorded on the chain as a
    ``repair`` record naming the operator (cli:<user>). Idempotent. Exit 0 when the chain is
    whole afterwards, 1 when a problem remains that only a person can judge (or, with
    --dry-run, when anything needs doing)."""
    from functions.sampling.repair import repair
    from functions.sampling.signing import signer_from_settings

    lake = lake_from(ctx)
    signer = signer_from_settings(settings_from(ctx), lake)
    out = repair(lake, signer, province, f"cli:{getpass.getuser()}", dry_run=dry_run)
    verb = "would do" if dry_run else "did"
    for a in out.actions:
        details = " ".join(f"{k}={v}" for k, v in a.items() if k != "action")
        click.echo(f"{verb}: {a['action']} {details}")
    for note in out.notes:
        click.echo(f"note: {note}")
    for problem in out.problems:
        click.echo(f"problem: {problem}")
    if not out.actions and out.ok:
        click.echo(f"province {province}: nothing to repair")
    if not out.ok or (dry_run and out.actions):
        ctx.exit(1)
