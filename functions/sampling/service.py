"""Draw a plan end to end: frame → scope → draw → inspectors → stored plan (serialised once)."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from functions import layout
from functions.errors import InvalidInput
from functions.obs.context import bind, scoped
from functions.roster.load import Roster, load_roster
from functions.roster.staff import KEYED_ROUNDS, SHUFFLED_ROUNDS, Rules, Staffing, staff_columns
from functions.sampling import cells, encode, overlay, supervision
from functions.sampling import draw as drawing
from functions.sampling import frame as frames
from functions.sampling.plans import (
    MAX_ANSWER_BYTES,
    PlanText,
    dumps,
    new_plan_id,
    province_of_plan,
    store_plan_text,
)
from functions.settings import Settings, get_settings
from schemas.results import RISK_CLASSES

if TYPE_CHECKING:
    from functions.auth.tokens import Principal
    from functions.lake import Lake
    from schemas.api import PlanRequest

logger = logging.getLogger(__name__)
TARGET_COLUMNS = ["uscc", "name", "risk_class", "region_code", "industry_code"]
PLAN_FORMAT = 5  # the stored layout new plans are written in (docs/adr/0125, 4: ADR 0142, 5: ADR 0163)


def scope_of(req: PlanRequest) -> frames.Scope:
    return frames.Scope(
        region_prefix=req.region_prefix,
        industries=tuple(req.industries),
        entity_types=tuple(req.entity_types),
        exclude=tuple(req.exclude),
    )


def staffing_rules(req: PlanRequest, settings: Settings) -> Rules:
    """The request's staffing within the configured floor (never below 2 per target)."""
    least = settings.inspectors_per_target
    asked = req.inspectors.per_target
    if asked is not None and asked < least:
        raise InvalidInput(
            f"inspectors.per_target must be at least {least} (the configured minimum)",
            field="inspectors.per_target",
        )
    return Rules(req.inspectors.field, asked or least, max(settings.roster_min_pool, asked or least))


@dataclass(frozen=True)
class Targets:
    """The draw before staffing: what every plan format shares (docs/adr/0125)."""

    digest: str  # the scoped frame's digest
    size: int  # and its size
    strata: list[dict[str, Any]]
    table: pa.Table  # TARGET_COLUMNS, in plan order
    plain: frozenset[str]  # target columns that need no JSON escaping
    supervision: dict[str, Any] | None = None  # lists and re-inspection (schemas.api.SupervisionUsed)
    adjustments: dict[str, Any] | None = None  # the adjustments snapshot applied (ADR 0142)

    def rows(self, inspectors: list[list[str]] | None = None) -> list[dict[str, Any]]:
        """The targets as dicts with their ``inspectors`` (none when unstaffed): verification, tests."""
        columns = [self.table.column(c).to_pylist() for c in TARGET_COLUMNS]
        rows = [dict(zip(TARGET_COLUMNS, values, strict=True)) for values in zip(*columns, strict=True)]
        for i, r in enumerate(rows):
            r["inspectors"] = list(inspectors[i]) if inspectors is not None else []
        return rows


@dataclass(frozen=True)
class Drawn:
    """The reproducible part of a plan: the draw (columnar, the targets stay an Arrow table)
    staffed from the roster."""

    draw: Targets
    staffing: Staffing  # inspectors per target, in the targets' order
    roster: dict[str, Any]  # which roster staffed the plan (schemas.api.RosterUsed)
    memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def inspector_loads(self) -> dict[str, int]:
        return self.staffing.loads

    def rows(self) -> list[dict[str, Any]]:
        """The targets as dicts (verification, tests); the API path uses :meth:`target_array`."""
        return self.draw.rows(self.staffing.inspectors)

    @property
    def count(self) -> int:
        return int(self.draw.table.num_rows)

    def target_array(self, start: int, stop: int) -> bytes:
        """Targets ``start:stop`` as a JSON array, encoded column-wise (:mod:`encode`). Plans are
        written and paged a slice at a time, so no plan's whole text is ever in memory
        (docs/adr/0153); objects are independent, so slices join to the same bytes."""
        first = self.memo.get("first")
        if first is not None and start >= 0 and stop <= len(first):
            return encode.array_bytes(first, start, stop)  # the answer's page: encoded once
        return encode.array_bytes(self.target_objects(start, stop))

    def target_objects(self, start: int, stop: int) -> pa.Array:
        """Targets ``start:stop``, one JSON object (with its comma) each: :func:`encode.runs`
        cuts a plan's page-index runs out of one batch of them (ADR 0163). The first batch is
        kept for the answer's first page (one batch, never the plan: docs/adr/0153)."""
        stop = max(start, min(stop, self.count))
        inspectors = encode.inspector_parts(self._literals, self.staffing.matrix[start:stop])
        table = self.draw.table.slice(start, stop - start)
        out = encode.object_strings(table, TARGET_COLUMNS, {"inspectors": inspectors}, self.draw.plain)
        if start == 0:
            self.memo["first"] = out
        return out

    @cached_property
    def _literals(self) -> pa.Array:
        return encode.inspector_literals(self.staffing.ids)

    def head(self) -> dict[str, Any]:
        return {
            "frame_digest": self.draw.digest,
            "frame_size": self.draw.size,
            "algorithm": drawing.ALGORITHM,
            "strata": self.draw.strata,
            "roster": self.roster,
            "supervision": self.draw.supervision,
            "adjustments": self.draw.adjustments,
        }


def draw_targets(
    req: PlanRequest,
    frame: frames.Frame | cells.CellFrame,
    seed: str,
    special: supervision.SupervisionSet | None = None,
    adjusted: overlay.Overlay | None = None,
) -> Targets:
    """The targets of a draw (scope, strata, positions), a pure function of (request, seed, frame,
    supervision set, adjustments snapshot). Listed and recently inspected entities leave their
    class strata; whitelist entities form a stratum of their own, sandbox entities one drawn at
    ratio 0 (ADR 0123, 0124); approved adjustments move entities to their adjusted class's
    stratum (a sampling copy only, ADR 0142)."""
    ratios: dict[str, float] = {str(k): v for k, v in req.ratios.items()}
    opts = req.supervision
    listed = None
    if special is not None and opts is not None:
        listed = supervision.in_scope(special.table, scope_of(req))
    applied: dict[str, Any] | None = None
    if isinstance(frame, cells.CellFrame):
        digest, size, populations, positions, targets, moved = _draw_cells(
            req, frame, seed, ratios, listed, adjusted
        )
        applied = None if adjusted is None else adjusted.record(moved)
        plain = frames.plain_columns(targets, TARGET_COLUMNS)
    else:
        digest, size, populations, positions, targets = _draw_in_memory(req, frame, seed, ratios, listed)
        plain = frames.json_plain_columns(frame.table, TARGET_COLUMNS)
    strata = [
        {
            "risk_class": c,
            "population": populations[c],
            "ratio": ratios.get(c),
            "sampled": len(positions[c]),
        }
        for c in RISK_CLASSES
    ]
    used: dict[str, Any] | None = None
    if listed is not None and special is not None and opts is not None:
        extra, used = supervision.list_draw(listed, seed, opts, TARGET_COLUMNS)
        used = {"digest": special.digest, "as_of": special.as_of, "day": special.day, **used}
        if extra.num_rows:
            targets = pa.concat_tables([targets.cast(extra.schema), extra])
            plain = plain & frames.plain_columns(extra, TARGET_COLUMNS)
    return Targets(digest, size, strata, targets, plain, used, applied)


def draw_plan(
    req: PlanRequest,
    frame: frames.Frame | cells.CellFrame,
    seed: str,
    roster: Roster,
    rules: Rules,
    special: supervision.SupervisionSet | None = None,
    adjusted: overlay.Overlay | None = None,
    plan_format: int = PLAN_FORMAT,
) -> Drawn:
    """The reproducible part of a plan: a pure function of (request, seed, frame, roster, rules,
    supervision set, adjustments snapshot), staffed as ``plan_format`` staffs (ADR 0163)."""
    drawn = draw_targets(req, frame, seed, special, adjusted)
    targets = drawn.table
    round_draw = KEYED_ROUNDS if plan_format >= 5 else SHUFFLED_ROUNDS
    uscc, region = targets.column("uscc"), targets.column("region_code")
    staffed = staff_columns(seed, uscc, region, roster, rules, round_draw)
    used = {
        "as_of": roster.as_of.isoformat(timespec="milliseconds"),
        "digest": roster.digest(),
        "field": rules.field,
        "per_target": rules.per_target,
        "min_pool": rules.min_pool,
        "qualified": staffed.qualified,
        "levels": staffed.levels,
    }
    return Drawn(drawn, staffed, used)


_Draw = tuple[str, int, dict[str, int], dict[str, Any], pa.Table]


def _draw_in_memory(
    req: PlanRequest, frame: frames.Frame, seed: str, ratios: dict[str, float], listed: pa.Table | None
) -> _Draw:
    """A partition read whole (runs published before the sampling copy; frame digest v1)."""
    prepared = frames.scoped_frame(frame, scope_of(req), RISK_CLASSES)
    table, indices = prepared.table, prepared.indices
    gone = None if listed is None else supervision.leaving_strata(listed)
    if gone is not None and gone.num_rows:
        table = table.filter(pc.invert(pc.is_in(table["uscc"], value_set=gone["uscc"])))
        indices = frames.stratum_indices(table, RISK_CLASSES)
    populations = {c: len(indices[c]) for c in RISK_CLASSES}
    positions = drawing.draw_positions(seed, populations, ratios)
    picked: list[pa.Array] = [
        indices[c].take(frames.int64_numpy(positions[c])) for c in RISK_CLASSES if len(positions[c])
    ]
    rows = table.select(TARGET_COLUMNS)
    targets = rows.take(pa.concat_arrays(picked)) if picked else rows.slice(0, 0)
    return prepared.digest, prepared.table.num_rows, populations, positions, targets


def _draw_cells(
    req: PlanRequest,
    frame: cells.CellFrame,
    seed: str,
    ratios: dict[str, float],
    listed: pa.Table | None,
    adjusted: overlay.Overlay | None,
) -> tuple[str, int, dict[str, int], dict[str, Any], pa.Table, int]:
    """The run's sampling copy (ADR 0100): counts from the cell index, only drawn rows read; with
    an adjustments snapshot, adjusted entities drawn in their adjusted class (ADR 0142)."""
    sel = cells.selection(frame, scope_of(req), RISK_CLASSES)
    size = sel.size
    leaving = None if listed is None else supervision.leaving_strata(listed)
    moves = None
    if adjusted is not None and adjusted.classes and req.frame_field is not None:
        adjusted = overlay.for_field(frame, adjusted)  # combined with the field class (ADR 0145)
    if adjusted is not None and adjusted.classes:
        gone = [*req.exclude, *([] if leaving is None else leaving["uscc"].to_pylist())]
        moves = overlay.moves(frame, adjusted, sel, gone)
        sel = cells.with_excluded(sel, moves.out)
    if leaving is not None:
        sel = cells.with_excluded(sel, supervision.located(frame, leaving))
    if moves is None or not moves.applied:
        positions = drawing.draw_positions(seed, sel.populations, ratios)
        rows, at = cells.drawn_rows(frame, sel, positions, RISK_CLASSES)
        targets = cells.fetch(frame, rows, TARGET_COLUMNS, at)
        return sel.digest, size, dict(sel.populations), positions, targets, 0
    populations = overlay.populations(sel, moves)
    positions = drawing.draw_positions(seed, populations, ratios)
    rows, drawn_in = overlay.rows_of(frame, sel, moves, positions, RISK_CLASSES)
    targets = cells.fetch(frame, rows, TARGET_COLUMNS)
    targets = targets.set_column(TARGET_COLUMNS.index("risk_class"), "risk_class", drawn_in)
    return sel.digest, size, populations, positions, targets, moves.applied


def compute(
    req: PlanRequest,
    frame: frames.Frame | cells.CellFrame,
    seed: str,
    roster: Roster,
    rules: Rules,
    special: supervision.SupervisionSet | None = None,
    adjusted: overlay.Overlay | None = None,
    plan_format: int = PLAN_FORMAT,
) -> dict[str, Any]:
    """:func:`draw_plan` as the plan's members (``targets`` as dicts): what verify compares."""
    drawn = draw_plan(req, frame, seed, roster, rules, special, adjusted, plan_format)
    return {**drawn.head(), "targets": drawn.rows(), "inspector_loads": drawn.inspector_loads}


def adjustments_for(
    lake: Lake, month: str, province: str, frame: frames.Frame | cells.CellFrame
) -> overlay.Overlay | None:
    """The approved adjustments a draw over ``frame`` applies now: the month's snapshot, on the
    general class's sampling copy or a field's (there combined with the field class by the draw,
    ADR 0145); ``None`` without a snapshot or for a partition read whole (it predates the copies)."""
    if not isinstance(frame, cells.CellFrame):
        return None
    return overlay.current(lake, month, province)


@dataclass(frozen=True)
class CreatedPlan:
    plan_id: str
    sha256: str  # of the complete plan as stored (the audit chain's subject)
    answer: bytes  # the stored plan, or the plan with its first page of targets when that is too large
    targets: int
    lake: Lake = field(repr=False, compare=False)
    kept: bytes | None = field(default=None, repr=False)  # the stored plan when small
    page_index: str | None = None  # SHA-256 of its page index as written (docs/adr/0162)

    @property
    def stored(self) -> bytes:
        """The complete plan as stored: read back unless small, since a province-wide plan is
        not held in memory (docs/adr/0153)."""
        if self.kept is not None:
            return self.kept
        return self.lake.read_bytes(layout.plan_key(province_of_plan(self.plan_id), self.plan_id))


@scoped
def make_plan(
    lake: Lake,
    req: PlanRequest,
    principal: Principal,
    *,
    now: dt.datetime | None = None,
    max_answer_bytes: int = MAX_ANSWER_BYTES,
    seed: str | None = None,
    frame: frames.Frame | cells.CellFrame | None = None,
    official: dict[str, Any] | None = None,
    special: supervision.SupervisionSet | None = None,
    adjusted: overlay.Overlay | Literal["current"] | None = "current",
) -> CreatedPlan:
    """Draw and store a plan, serialised once (docs/adr/0045). Scope is the caller's job.

    A task's draw (:mod:`functions.sampling.tasks`) passes its committed ``seed``, the ``frame``
    fixed at registration and the ``official`` members (task, commitment, reveal…); otherwise
    the plan is a test draw, labelled ``"mode": "test"`` (docs/adr/0093). Inspectors come from
    the province's roster as it stands at ``now`` (docs/adr/0097). A test draw applies the
    month's approved adjustments as they stand (``adjusted="current"``); a task passes the
    snapshot fixed at its registration (docs/adr/0142). The plan is stored but not on the
    audit chain: :mod:`functions.sampling.tasks` appends it (every caller outside tests goes
    through it, docs/adr/0141)."""
    if frame is None:
        frame = cells.load_published_for(lake, req.month, req.province, req.frame_field)
    if adjusted == "current":
        adjusted = adjustments_for(lake, req.month, req.province, frame)
    if seed is None:
        seed = req.seed if req.seed is not None else drawing.new_seed()
    at = now or dt.datetime.now(dt.UTC)
    at = at.replace(microsecond=at.microsecond // 1000 * 1000)  # as stored (milliseconds)
    settings = get_settings()
    rules = staffing_rules(req, settings)
    if req.supervision is not None and special is None:  # a test draw that asked for them
        special = supervision.compute(lake, req.province, req.month, req.supervision, as_of=at,
                                      settings=settings)  # fmt: skip
    drawn = draw_plan(req, frame, seed, load_roster(lake, req.province, at), rules, special, adjusted)
    plan_id = new_plan_id(req.province)
    bind(plan_id=plan_id)  # on every log line of the plan's making (docs/adr/0076)
    head: dict[str, Any] = {
        "plan_id": plan_id,
        "plan_format": PLAN_FORMAT,
        "created_at": at.isoformat(timespec="milliseconds"),
        "caller": principal.caller(),
        "month": req.month,
        "province": req.province,
        "seed": seed,
        "seed_generated": req.seed is None,
        **(official or {"mode": "test"}),
        "run_id": frame.run_id,
        "model": frame.model,
        "model_hash": frame.pointer.get("model_hash"),
        **drawn.head(),
    }
    tail = {"inspector_loads": drawn.inspector_loads, "request": req.model_dump(mode="json")}
    head_text, tail_text = dumps(head).encode("utf-8")[:-1], dumps(tail).encode("utf-8")[1:]
    text = PlanText(plan_id, head_text, drawn.target_array, drawn.count, tail_text, drawn.target_objects)
    stored = store_plan_text(lake, req.province, text, keep=max_answer_bytes)
    logger.info(
        "plan %s stored: province %s month %s, %d targets", plan_id, req.province, req.month, drawn.count
    )
    answer = (
        text.first_page(max_answer_bytes)
        if stored.kept is None
        else text.answer(stored.kept, max_answer_bytes)
    )
    return CreatedPlan(plan_id, stored.sha256, answer, drawn.count, lake, stored.kept, stored.page_index)
