"""``creditrisk token``: issue, list and revoke API bearer tokens (only salted hashes are stored)."""

from __future__ import annotations

import click

from functions.cli.common import lake_from


@click.group("token")
def command() -> None:
    """API tokens for inspection platforms, each scoped to provinces."""


@command.command("issue")
@click.option("--provinces", required=True, help="comma-separated province codes, e.g. 42,23")
@click.option("--name", required=True, help="who the token is for (shown in plans and listings)")
@click.pass_context
def issue_cmd(ctx: click.Context, provinces: str, name: str) -> None:
    """Create a token and print it once; store only its salted hash."""
    from functions.auth.tokens import issue_token

    token, record = issue_token(lake_from(ctx), name=name, provinces=provinces.split(","))
    click.echo(
        f"token id {record['token_id']} for {record['name']} (provinces {','.join(record['provinces'])})"
    )
    click.echo("the token is shown only now; store it in the caller's secret store:", err=True)
    click.echo(token)


@command.command("revoke")
@click.argument("token_id")
@click.pass_context
def revoke_cmd(ctx: click.Context, token_id: str) -> None:
    """Revoke a token (running processes forget cached verifications within 30 s)."""
    from functions.auth.tokens import revoke_token

    record = revoke_token(lake_from(ctx), token_id)
    click.echo(f"revoked {record['token_id']} ({record['name']}) at {record['revoked_at']}")


@command.command("list")
@click.pass_context
def list_cmd(ctx: click.Context) -> None:
    """List tokens (never their secrets)."""
    from functions.auth.tokens import list_tokens

    rows = list_tokens(lake_from(ctx))
    if not rows:
        click.echo("no tokens")
        return
    click.echo(f"{'id':<14}{'name':<30}{'provinces':<20}{'created':<27}revoked")
    for r in rows:
        click.echo(
            f"{r['token_id']:<14}{r['name'][:29]:<30}{','.join(r['provinces']):<20}"
            f"{r['created_at']:<27}{r.get('revoked_at') or '-'}"
        )
