"""Shared CLI plumbing: settings with the ``--lake`` override, and the lake itself."""

from __future__ import annotations

import click

from functions.lake import Lake, open_lake
from functions.settings import Settings, get_settings


def settings_from(ctx: click.Context) -> Settings:
    """Explicit ``--lake`` > environment > default."""
    base = get_settings()
    lake = (ctx.find_root().obj or {}).get("lake")
    return base.model_copy(update={"lake_uri": lake}) if lake else base


def lake_from(ctx: click.Context) -> Lake:
    return open_lake(settings=settings_from(ctx))
