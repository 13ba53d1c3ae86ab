"""``creditrisk dlq redrive``: re-drive the dead-letter queue of the asynchronous functions
(``functions.redrive``; docs/operations.md). Exit 0 when the queue was emptied, 1 when
something stayed in it (a failure, a monthly run not asked for, an unknown message), 2 on a
configuration error."""

from __future__ import annotations

import datetime as dt

import click

from functions.cli.common import lake_from, settings_from
from functions.errors import CreditRiskError, InvalidInput
from functions.lake import open_lake
from functions.redrive import Actions, Monthly, Queue, Upload, redrive


@click.group("dlq")
def command() -> None:
    """The dead-letter queue of failed uploads and monthly runs."""


@command.command("redrive")
@click.option("--queue-url", help="SQS URL (default: CREDITRISK_DLQ_URL; the DeadLetterQueueUrl output).")
@click.option("--dry-run", is_flag=True, help="List what would be re-driven; change nothing.")
@click.option(
    "--include-monthly",
    is_flag=True,
    help="Also re-run failed monthly runs (every province of the month; long).",
)
@click.pass_context
def redrive_cmd(ctx: click.Context, queue_url: str | None, dry_run: bool, include_monthly: bool) -> None:
    """Ingest every failed upload again (idempotent), deleting each message only after success."""
    settings = settings_from(ctx)
    url = queue_url or settings.dlq_url
    if not url:
        raise InvalidInput("no queue: give --queue-url or set CREDITRISK_DLQ_URL", field="queue_url")
    sqs = settings.aws_client("sqs")
    lake = lake_from(ctx)
    landing = open_lake(settings.effective_landing_uri, settings=settings)

    def ingest(upload: Upload) -> str:
        from functions.ingest.landed import ingest_landed
        from functions.warnings.on_ingest import warn_after_ingest

        report = ingest_landed(
            lake,
            landing,
            list(upload.candidates),
            etag=upload.etag,
            version_id=upload.version_id,
            settings=settings,
        )
        if report is None:  # deleted since: nothing to redo, as the handler would say
            return f"{upload.candidates[-1]}: missing (deleted or overwritten since)"
        if report.status != "duplicate":
            warn_after_ingest(lake, report, settings=settings, now=dt.datetime.now(dt.UTC))
        return f"{report.source_key}: {report.status} (ingest {report.ingest_id})"

    def monthly(work: Monthly) -> str:
        from functions.monthly import run_monthly

        summary = run_monthly(lake, month=work.month, settings=settings, now=dt.datetime.now(dt.UTC))
        failed = [
            p
            for p, i in summary["provinces"].items()
            if i["status"] == "failed" or i.get("follow_up", {}).get("status") == "failed"
        ]
        if failed:
            raise CreditRiskError(f"monthly run {work.month} failed again for province {', '.join(failed)}")
        return f"{work.month}: " + ", ".join(
            f"{p} {i['status']}" + (f" run {i['run_id']}" if i.get("run_id") else "")
            for p, i in sorted(summary["provinces"].items())
        )

    actions = Actions(ingest=ingest, monthly=monthly if include_monthly else None)
    results = redrive(Queue(sqs, url), actions, tz=settings.tz, dry_run=dry_run)
    for r in results:
        click.echo(f"{r.outcome:13} {r.message_id}  {r.what}" + (f"  ({r.detail})" if r.detail else ""))
    kinds = ("redriven", "would_redrive", "failed", "left")
    counts = {o: sum(r.outcome == o for r in results) for o in kinds}
    click.echo(", ".join(f"{n} {o.replace('_', ' ')}" for o, n in counts.items()), err=True)
    if counts["failed"] or counts["left"]:
        ctx.exit(1)
