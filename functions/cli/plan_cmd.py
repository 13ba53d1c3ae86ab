"""``creditrisk plan``: draw, show and verify double-random sampling plans."""

from __future__ import annotations

import getpass
import json
from typing import Any, get_args

import click

from functions.cli.common import lake_from, settings_from
from schemas.datasets import InspectorField


@click.group("plan")
def command() -> None:
    """Double-random (双随机) sampling plans (the REST API draws them too)."""


def _parse_ratios(value: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in value.split(","))):
        cls, sep, ratio = part.partition("=")
        if not sep:
            raise click.BadParameter(f"{part!r}: use CLASS=RATIO, e.g. A=0.01,B=0.03", param_hint="--ratios")
        try:
            out[cls.strip().upper()] = float(ratio)
        except ValueError:
            raise click.BadParameter(f"{ratio!r} is not a number", param_hint="--ratios") from None
    return out


@command.command("draw")
@click.option("--month", required=True, help="YYYY-MM")
@click.option("--province", required=True, help="two-digit province code")
@click.option("--ratios", default="A=0.01,B=0.03,C=0.1,D=0.3", show_default=True, help="CLASS=RATIO,…")
@click.option("--region-prefix", default=None, help="city or county code prefix")
@click.option("--seed", default=None, help="generated when absent")
@click.option(
    "--field",
    "inspection_field",
    type=click.Choice(get_args(InspectorField)),
    default="general",
    show_default=True,
    help="the field the roster's inspectors must be qualified for (the API's inspectors.field)",
)
@click.option(
    "--per-target",
    type=click.IntRange(2, 10),
    default=None,
    help="inspectors per target (default and least allowed: the configured minimum)",
)
@click.option("--json", "as_json", is_flag=True, help="print the whole stored plan")
@click.pass_context
def draw_cmd(
    ctx: click.Context,
    month: str,
    province: str,
    ratios: str,
    region_prefix: str | None,
    seed: str | None,
    inspection_field: str,
    per_target: int | None,
    as_json: bool,
) -> None:
    """Draw and store a TEST plan as the operator (never official: official plans are drawn from a
    registered task through the API; the caller is recorded as cli:<user>)."""
    from functions.auth.tokens import Principal
    from functions.errors import Forbidden
    from functions.sampling.signing import signer_from_settings
    from functions.sampling.tasks import draw_test_plan
    from schemas.api import PlanRequest

    if not settings_from(ctx).sampling_test_mode:
        raise Forbidden("test draws are disabled in this deployment (production)", field="mode")
    body = {
        "month": month,
        "province": province,
        "ratios": _parse_ratios(ratios),
        "seed": seed,
        "mode": "test",
        "inspectors": {"field": inspection_field, "per_target": per_target},
    }
    if region_prefix:
        body["region_prefix"] = region_prefix
    req = PlanRequest.model_validate(body, strict=False)
    operator = Principal("cli", f"cli:{getpass.getuser()}", frozenset({province}))
    lake = lake_from(ctx)
    made = draw_test_plan(lake, req, operator, signer_from_settings(settings_from(ctx), lake))
    text = made.stored.decode("utf-8")
    plan = json.loads(text)
    click.echo(text if as_json else _summary(plan))


def _summary(plan: dict[str, Any]) -> str:
    lines = [
        f"plan {plan['plan_id']}  month {plan['month']}  province {plan['province']}  seed {plan['seed']}",
        f"classification run {plan['run_id']} ({plan['model']}), frame {plan['frame_size']} entities, "
        f"digest {str(plan['frame_digest'])[:16]}…",
        f"inspectors: field {(plan.get('roster') or {}).get('field', '-')}",
        f"{'class':<6}{'population':>12}{'ratio':>9}{'sampled':>9}",
    ]
    for s in plan["strata"]:
        ratio = "-" if s["ratio"] is None else f"{s['ratio']:g}"
        lines.append(f"{s['risk_class']:<6}{s['population']:>12}{ratio:>9}{s['sampled']:>9}")
    used = plan.get("supervision")
    if used:  # tolerance lists and re-inspection limits (docs/adr/0123, 0124)
        for s in used["strata"]:
            lines.append(f"{s['list']:<10}{s['population']:>8}{s['ratio']:>9g}{s['sampled']:>9}")
        again = used["reinspection"]
        lines.append(
            f"list exits: {len(used['exits'])}; inspected this year: {again['excluded']} left out, "
            f"{again['by_class']} drawable by class, {again['by_warning']} by warning"
        )
    lines.append(f"targets: {len(plan['targets'])}")
    return "\n".join(lines)


@command.command("show")
@click.argument("plan_id")
@click.option("--json", "as_json", is_flag=True, help="print the stored JSON unchanged")
@click.pass_context
def show_cmd(ctx: click.Context, plan_id: str, as_json: bool) -> None:
    """Print a stored plan (summary, or the stored JSON with --json)."""
    from functions.sampling.plans import load_plan_text

    text = load_plan_text(lake_from(ctx), plan_id)
    click.echo(text if as_json else _summary(json.loads(text)))


@command.command("verify")
@click.argument("plan_id")
@click.option("--full", is_flag=True, help="check every record of the province's audit chain, not "
              "only the plan's and its task's records up to the nearest signed checkpoint")  # fmt: skip
@click.pass_context
def verify_cmd(ctx: click.Context, plan_id: str, full: bool) -> None:
    """Re-draw a plan from its stored seed and frame; an official plan is also checked against its
    task, its commitment and the signed audit chain. Exit 1 on any failure."""
    from functions.errors import ConfigError
    from functions.sampling.signing import Signer, signer_from_settings
    from functions.sampling.verify import verify_plan

    lake = lake_from(ctx)
    try:
        signer: Signer | None = signer_from_settings(settings_from(ctx), lake)
    except ConfigError:
        signer = None  # test plans still verify; an official plan is then "unverifiable" (exit 1)
    result = verify_plan(lake, plan_id, signer, full=full)
    click.echo(f"{plan_id}: {result.status} — {result.message}")
    if not result.ok:
        ctx.exit(1)
