"""``creditrisk objection``: register an objection and take it through accepted → checked →
decided (upheld with its correction, or rejected with a reason), then the correction run;
``creditrisk objection list --overdue`` lists the ones past 5 working days (docs/adr/0112)."""

from __future__ import annotations

import datetime as dt

import click

from functions.cli.common import lake_from, settings_from
from schemas.objections import Actor


def _by(name: str) -> Actor:
    return Actor(kind="operator", id=name.strip(), name=name.strip())


def _show(out: object, as_json: bool) -> None:
    from schemas.objections import ObjectionOut

    assert isinstance(out, ObjectionOut)
    if as_json:
        click.echo(out.model_dump_json(indent=2))
        return
    flag = " OVERDUE" if out.overdue else ""
    click.echo(
        f"{out.objection_id} {out.uscc} {out.month}: {out.status}{flag}, received {out.received_on}, "
        f"due {out.due_on}" + ("" if out.calendar_official else " (weekends only: no official calendar)")
    )
    if out.correction_status is not None:
        run = f" run {out.correction_run_id}" if out.correction_run_id else ""
        claimed = f", claimed at {out.correction_claimed_at}" if out.correction_claimed_at else ""
        click.echo(f"  correction: {out.correction_status}{run}{claimed}")
    for e in out.trail:
        extra = f" {e.outcome}" if e.outcome else ""
        extra += f" run {e.run_id}" if e.run_id else ""
        extra += f": {e.reason}" if e.reason else ""
        click.echo(f"  {e.seq}. {e.step}{extra} — {e.by.name} at {e.at}")


BY = click.option("--by", required=True, help="Who does this step (recorded in the audit trail).")
AS_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group("objection")
def command() -> None:
    """Objections (异议处理), decided within 5 working days of receipt."""


@command.command("register")
@click.option("--uscc", required=True)
@click.option("--month", required=True, help="The classification month disputed, YYYY-MM.")
@click.option("--received", "received_on", required=True, help="Day of receipt, YYYY-MM-DD.")
@click.option("--reason", "reasons", multiple=True, help="A disputed reason or rule code (repeat).")
@click.option("--record", "records", multiple=True, help="A disputed record, DATASET:RECORD_ID (repeat).")
@BY
@AS_JSON
@click.pass_context
def register_cmd(
    ctx: click.Context,
    uscc: str,
    month: str,
    received_on: str,
    reasons: tuple[str, ...],
    records: tuple[str, ...],
    by: str,
    as_json: bool,
) -> None:
    """Record a received objection; prints its id and deadline."""
    from functions.errors import InvalidInput
    from functions.objections.service import register
    from schemas.objections import ObjectionIn

    recs = []
    for r in records:
        dataset, sep, record_id = r.partition(":")
        if not sep:
            raise InvalidInput("--record is DATASET:RECORD_ID", field="record")
        recs.append({"dataset": dataset, "record_id": record_id})
    req = ObjectionIn.model_validate(
        {
            "uscc": uscc.upper(),
            "month": month,
            "received_on": received_on,
            "reasons": list(reasons),
            "records": recs,
        },
        strict=False,
    )
    _show(register(lake_from(ctx), req, _by(by)), as_json)


def _step(step: str, name: str) -> click.Command:
    @click.command(name)
    @click.argument("objection_id")
    @BY
    @AS_JSON
    @click.pass_context
    def cmd(ctx: click.Context, objection_id: str, by: str, as_json: bool) -> None:
        from functions.objections.service import advance

        _show(advance(lake_from(ctx), objection_id, step, _by(by)), as_json)

    cmd.help = f"Record that the objection was {step}."
    return cmd


command.add_command(_step("accepted", "accept"))
command.add_command(_step("checked", "check"))


@command.command("decide")
@click.argument("objection_id")
@click.option("--upheld", "outcome", flag_value="upheld", help="A record was wrong.")
@click.option("--rejected", "outcome", flag_value="rejected", help="The records stand (give --reason).")
@click.option("--reason", default=None, help="Why (required when rejected).")
@click.option("--correction-upload", default=None, help="Upheld: the ingest id of the corrected upload.")
@click.option(
    "--correction-record", default=None, help="Upheld: DATASET:RECORD_ID corrected (with --reason)."
)
@click.option("--reclassify/--no-reclassify", default=True, help="Upheld: run the correction run now.")
@click.option("--engine", type=click.Choice(["duckdb", "athena"]), default=None)
@BY
@AS_JSON
@click.pass_context
def decide_cmd(
    ctx: click.Context,
    objection_id: str,
    outcome: str | None,
    reason: str | None,
    correction_upload: str | None,
    correction_record: str | None,
    reclassify: bool,
    engine: str | None,
    by: str,
    as_json: bool,
) -> None:
    """Decide: upheld (with the correction; then the month is re-classified as a correction run)
    or rejected with a reason."""
    import functools

    from functions.classify.run import classify_month
    from functions.errors import InvalidInput
    from functions.objections.service import advance
    from functions.objections.service import reclassify as run_correction
    from schemas.objections import Correction

    if outcome is None:
        raise InvalidInput("give --upheld or --rejected", field="outcome")
    correction = None
    if outcome == "upheld":
        if correction_upload:
            correction = Correction(kind="upload", ingest_id=correction_upload)
        elif correction_record:
            dataset, _, record_id = correction_record.partition(":")
            correction = Correction.model_validate(
                {"kind": "record", "dataset": dataset, "record_id": record_id, "note": reason}, strict=False
            )
        else:
            raise InvalidInput(
                "an upheld objection needs --correction-upload or --correction-record", field="correction"
            )
    lake = lake_from(ctx)
    out = advance(
        lake, objection_id, "decided", _by(by), outcome=outcome, reason=reason, correction=correction
    )
    from functions.objections.overdue import sync_overdue_warnings

    # an overdue objection's warning closes with the decision, not at the next monthly run
    sync_overdue_warnings(lake, out.province, now=dt.datetime.now(dt.UTC), by=by, trigger="manual")
    if outcome == "upheld" and reclassify:
        settings = settings_from(ctx)
        classify = functools.partial(  # the fields follow the corrected general class (ADR 0117)
            classify_month,
            lake,
            settings=settings,
            engine=engine or settings.engine,
            fields=settings.field_systems,
        )
        out = run_correction(lake, objection_id, _by(by), classify=classify, lease=settings.correction_lease)
    _show(out, as_json)


@command.command("reclassify")
@click.argument("objection_id")
@click.option("--engine", type=click.Choice(["duckdb", "athena"]), default=None)
@BY
@AS_JSON
@click.pass_context
def reclassify_cmd(ctx: click.Context, objection_id: str, engine: str | None, by: str, as_json: bool) -> None:
    """Run (again) the correction run of an upheld objection that has none yet."""
    import functools

    from functions.classify.run import classify_month
    from functions.objections.service import reclassify

    lake, settings = lake_from(ctx), settings_from(ctx)
    engine = engine or settings.engine
    classify = functools.partial(
        classify_month, lake, settings=settings, engine=engine, fields=settings.field_systems
    )
    _show(
        reclassify(lake, objection_id, _by(by), classify=classify, lease=settings.correction_lease), as_json
    )


@command.command("show")
@click.argument("objection_id")
@AS_JSON
@click.pass_context
def show_cmd(ctx: click.Context, objection_id: str, as_json: bool) -> None:
    """An objection's state and audit trail."""
    from functions.objections.service import get

    _show(get(lake_from(ctx), objection_id, lease=settings_from(ctx).correction_lease), as_json)


@command.command("list")
@click.option("--province", required=True)
@click.option("--month", default=None, help="Only objections to this classification month.")
@click.option("--overdue", is_flag=True, help="Only those past their deadline.")
@AS_JSON
@click.pass_context
def list_cmd(ctx: click.Context, province: str, month: str | None, overdue: bool, as_json: bool) -> None:
    """A province's objections; a warning on stderr when some are overdue and undecided."""
    import json

    from functions.objections.service import list_objections

    lease = settings_from(ctx).correction_lease
    found = list_objections(lake_from(ctx), province, month=month, overdue_only=overdue, lease=lease)
    if as_json:
        click.echo(json.dumps([o.model_dump(mode="json") for o in found], ensure_ascii=False, indent=2))
    else:
        for o in found:
            _show(o, False)
    late = [o for o in found if o.overdue and o.status not in ("upheld", "rejected")]
    if late:
        click.echo(f"warning: {len(late)} objection(s) undecided past their 5-working-day deadline", err=True)
