"""``creditrisk ingest``: local files/folders, or everything pending in the landing area."""

from __future__ import annotations

from pathlib import Path

import click

from functions import layout
from functions.cli.common import lake_from, settings_from
from functions.ingest import IngestReport, ingest_file, ingest_object, ingest_tree, summarise
from functions.lake import Lake, open_lake
from functions.progress import StderrProgress


def _landing_root(path: Path) -> Path | None:
    """The folder holding ``incoming/`` for a folder at or below it, else None."""
    if (path / layout.INCOMING).is_dir():
        return path
    for parent in [path, *path.parents]:
        if parent.name == layout.INCOMING:
            return parent.parent
    return None


def _local_reports(lake: Lake, path: Path, settings: object, progress: StderrProgress) -> list[IngestReport]:
    from functions.settings import Settings

    assert isinstance(settings, Settings)
    path = path.resolve()
    if path.is_file():
        parts = path.parts
        if len(parts) < 4:
            raise click.BadParameter(f"{path}: expected …/<province>/<dataset>/<file>", param_hint="PATH")
        key = layout.incoming_key(parts[-3], parts[-2], parts[-1])
        return [ingest_file(lake, key, path, settings=settings, progress=progress)]
    root = _landing_root(path)
    if root is None:
        raise click.BadParameter(f"{path}: no incoming/<province>/<dataset>/ folders here", param_hint="PATH")
    landing = Lake.from_uri(str(root))
    prefix = path.relative_to(root).as_posix() if path != root else layout.INCOMING
    files = landing.list_files(prefix)
    reports = []
    for i, f in enumerate(files):
        progress("ingest files", i, len(files))
        reports.append(ingest_object(lake, landing, f.key, settings=settings, progress=progress))
    progress("ingest files", len(files), len(files))
    return reports


def _warn(lake: Lake, reports: list[IngestReport], settings: object) -> None:
    """Real-time warnings for what was ingested, as the upload trigger raises them (on stderr,
    so ``--json`` output stays machine-readable); a failure here never fails the ingest."""
    import datetime as dt

    from functions.settings import Settings
    from functions.warnings.on_ingest import warn_after_ingests

    assert isinstance(settings, Settings)
    outcome = warn_after_ingests(lake, reports, settings=settings, now=dt.datetime.now(dt.UTC))
    for province, w in outcome.items():
        if w["status"] == "raised":
            click.echo(
                f"warnings {province} {w['month']}: {w['raised']} new for {w['entities']} entities "
                f"({w['duplicates']} already raised), {w['tasks']} inspection tasks",
                err=True,
            )
        else:
            click.echo(f"warnings {province}: FAILED ({w['error']}: {w['message']}); ingest kept", err=True)


def _disclose(lake: Lake, reports: list[IngestReport]) -> None:
    """Inspection results naming a plan publish its disclosure again (一公开, ADR 0098)."""
    from functions.disclosure.build import after_ingests

    for plan_id, n in after_ingests(lake, reports).items():
        click.echo(f"disclosure {plan_id}: {n} entities published", err=True)


def _notify(reports: list[IngestReport], settings: object) -> None:
    """Tell each province what became of its uploads, as the upload trigger does (docs/adr/0088);
    a failure is said on stderr and never changes the exit status (the reports are committed)."""
    from functions.settings import Settings
    from functions.uploads.notify import notify_outcome, publisher_from_settings

    assert isinstance(settings, Settings)
    publisher = publisher_from_settings(settings)
    for r in reports:
        sent = notify_outcome(r, publisher)
        if sent["status"] == "failed":
            click.echo(f"notification of ingest {r.ingest_id}: FAILED ({sent['error']})", err=True)


@click.command("ingest")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--pending", is_flag=True, help="Ingest everything not yet ingested under the landing area's incoming/."
)
@click.option("--json", "as_json", is_flag=True, help="Print the ingest reports as JSON lines.")
@click.pass_context
def command(ctx: click.Context, paths: tuple[Path, ...], pending: bool, as_json: bool) -> None:
    """Validate uploads and curate the good rows (see docs/upload-contract.md).

    PATH is a file whose path ends in <province>/<dataset>/<file>, or a folder laid out as
    <root>/incoming/<province>/<dataset>/<file> (or any folder below incoming/).

    Exit status 1 when any file was rejected whole, 0 otherwise (rejected rows alone are not a
    failure: they are counted per reason and quarantined).
    """
    if not paths and not pending:
        raise click.UsageError("give PATH(s) or --pending")
    settings = settings_from(ctx)
    lake = lake_from(ctx)
    progress = StderrProgress()
    reports: list[IngestReport] = []
    for p in paths:
        reports.extend(_local_reports(lake, p, settings, progress))
    if pending:
        landing = open_lake(settings.effective_landing_uri, settings=settings)
        reports.extend(ingest_tree(lake, landing, settings=settings, progress=progress))
    if as_json:
        for r in reports:
            click.echo(r.model_dump_json())
    else:
        click.echo(summarise(reports) if reports else "nothing to ingest")
    _warn(lake, reports, settings)
    _disclose(lake, reports)
    _notify(reports, settings)
    if any(r.status == "rejected_file" for r in reports):
        ctx.exit(1)
