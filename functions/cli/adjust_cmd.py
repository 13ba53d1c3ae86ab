"""``creditrisk adjust``: a manual class adjustment (人工调整), proposed with a reason by one
person and approved by a second (docs/adr/0113)."""

from __future__ import annotations

import click

from functions.cli.common import lake_from
from schemas.objections import Actor, AdjustmentOut

BY = click.option("--by", required=True, help="Who does this (recorded in the audit trail).")


def _by(name: str) -> Actor:
    return Actor(kind="operator", id=name.strip(), name=name.strip())


def _show(a: AdjustmentOut) -> None:
    click.echo(
        f"{a.adjustment_id} {a.uscc} {a.month}: model class {a.model_class} → {a.adjusted_class} "
        f"[{a.status}] reason: {a.reason}; proposed by {a.proposed_by.name}"
        + (f", approved by {a.approved_by.name}" if a.approved_by else "")
    )


@click.group("adjust")
def command() -> None:
    """Manual class adjustments with a second person's approval."""


@command.command("propose")
@click.option("--uscc", required=True)
@click.option("--month", required=True)
@click.option("--to", "to_class", required=True, type=click.Choice(["A", "B", "C", "D"]))
@click.option("--reason", required=True)
@BY
@click.pass_context
def propose_cmd(ctx: click.Context, uscc: str, month: str, to_class: str, reason: str, by: str) -> None:
    """Propose a class for an entity's published month (shown only once approved)."""
    from functions.objections.adjust import propose

    _show(propose(lake_from(ctx), uscc, month, to_class, reason, _by(by)))


@command.command("approve")
@click.argument("adjustment_id")
@click.option("--month", required=True)
@BY
@click.pass_context
def approve_cmd(ctx: click.Context, adjustment_id: str, month: str, by: str) -> None:
    """Approve (a different person from the proposer)."""
    from functions.objections.adjust import decide

    _show(decide(lake_from(ctx), month, adjustment_id, _by(by), approve=True))


@command.command("refuse")
@click.argument("adjustment_id")
@click.option("--month", required=True)
@click.option("--reason", default=None)
@BY
@click.pass_context
def refuse_cmd(ctx: click.Context, adjustment_id: str, month: str, reason: str | None, by: str) -> None:
    """Refuse a proposed adjustment."""
    from functions.objections.adjust import decide

    _show(decide(lake_from(ctx), month, adjustment_id, _by(by), approve=False, reason=reason))


@command.command("list")
@click.option("--province", required=True)
@click.option("--month", required=True)
@click.pass_context
def list_cmd(ctx: click.Context, province: str, month: str) -> None:
    """Every adjustment of a province's month, with its status."""
    from functions.objections.adjust import list_adjustments

    for a in list_adjustments(lake_from(ctx), province, month):
        _show(a)
