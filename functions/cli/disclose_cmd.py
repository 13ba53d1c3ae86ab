"""``creditrisk disclose``: publish a plan's inspection results (一公开, docs/adr/0098)."""

from __future__ import annotations

import sys

import click

from functions.cli.common import lake_from


@click.command("disclose")
@click.argument("plan_id")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True)
@click.option(
    "--out", type=click.Path(dir_okay=False, writable=True), help="write the export here (else stdout)"
)
@click.pass_context
def command(ctx: click.Context, plan_id: str, fmt: str, out: str | None) -> None:
    """Build PLAN_ID's public record from its inspection results and publish it (JSON and CSV under
    results/disclosures/, served by GET /v1/public/disclosures/{plan_id}). Exit 1 when the plan has
    no results yet. The record never holds the internal risk class, score or reasons."""
    from functions.disclosure.build import publish, to_csv, to_json

    d = publish(lake_from(ctx), plan_id)
    data = to_json(d) if fmt == "json" else to_csv(d)
    if out:
        with open(out, "wb") as f:
            f.write(data)
        click.echo(f"{plan_id}: {d.entities} entities published, {d.pending} pending; {fmt} written to {out}")
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
