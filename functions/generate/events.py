"""Event datasets of one block, driven by each entity's latent risk ``rr``.

Every table is all-string (the CSV text) plus a ``_file`` column naming the file the row goes
to (``YYYY-MM`` for monthly event files, the year for annual reports, ``part-NNNNN`` for
relationships). Record ids embed the global entity index, so they are unique province-wide
and never change with chunking.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from functions.generate import vocab
from functions.generate.arrowutil import (
    bool_str,
    day_str,
    days_of,
    digits,
    join,
    money,
    month_of,
    strs,
    uniform_days,
)
from functions.generate.population import BLOCK, EntityBlock, Window, risk_share
from functions.generate.regions import Regions

ENTITIES_PER_PART = 1_000_000  # entities and relationships files hold at most this many rows
_NULL = pa.scalar(None, pa.string())


def part_name(gidx: np.ndarray) -> pa.Array:
    """The entities/relationships part of each row (a block never spans two parts)."""
    parts = gidx // ENTITIES_PER_PART
    if len(parts) and parts[0] == parts[-1]:
        return const(f"part-{int(parts[0]):05d}", len(parts))
    return join("part-", digits(parts, 5))


def const(value: str, n: int) -> pa.Array:
    return pa.repeat(pa.scalar(value, pa.string()), n)


class _Draw:
    """Events: entity row per event, its sequence number within the entity, and a date."""

    def __init__(self, rng: np.random.Generator, counts: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        counts = np.where(hi >= lo, counts, 0)
        self.row = np.repeat(np.arange(len(counts)), counts)
        starts = np.cumsum(counts) - counts
        self.seq = np.arange(len(self.row)) - np.repeat(starts, counts)
        self.day = uniform_days(rng, lo[self.row], hi[self.row])

    def __len__(self) -> int:
        return len(self.row)


def _bounds(eb: EntityBlock, window: Window) -> tuple[np.ndarray, np.ndarray]:
    lo = np.maximum(eb.established, window.start)
    hi = np.minimum(eb.active_until, window.end)
    return lo, hi


def _ids(prefix: str, province: str, eb: EntityBlock, d: _Draw, offset: int = 0) -> pa.Array:
    return join(prefix, province, "-", digits(eb.gidx[d.row], 9), "-", digits(d.seq + offset, 2))


def _choice(rng: np.random.Generator, table: Mapping[str, float], n: int) -> pa.Array:
    keys, p = vocab.probs(table)
    return strs(keys, rng.choice(len(keys), size=n, p=p))


def _removed(
    rng: np.random.Generator, listed: np.ndarray, share: float, window: Window, gap: int
) -> pa.Array:
    """Removal dates for about ``share`` of records old enough to be removed by window end."""
    can = listed + gap <= window.end
    removed = can & (rng.random(len(listed)) < share)
    days = np.where(
        removed, uniform_days(rng, np.minimum(listed + gap, window.end), np.full(len(listed), window.end)), 0
    )
    return day_str(days, ~removed)


def _county_text(regions: Regions, eb: EntityBlock, d: _Draw, suffix: str) -> pa.Array:
    return join(strs(regions.names, eb.county[d.row]), suffix)


def registration_changes(
    rng: np.random.Generator, eb: EntityBlock, window: Window, province: str, months: int
) -> pa.Table:
    lo, hi = _bounds(eb, window)
    d = _Draw(rng, rng.poisson(0.2 * eb.rr**0.6 * months / 12), lo, hi)
    items = _choice(rng, vocab.CHANGE_ITEMS, len(d))
    # Churners (mostly risky): 3-4 legal-rep/address changes within 90 days.
    churn = rng.random(len(eb.rr)) < risk_share(eb.rr, 2.0, 0.004)
    churn &= hi - lo >= 90
    start = np.where(churn, uniform_days(rng, lo, np.maximum(hi - 90, lo)), 0)
    c = _Draw(rng, np.where(churn, rng.integers(3, 5, size=len(churn)), 0), start, start + 90)
    c_items = strs(("legal_rep", "address"), rng.integers(0, 2, size=len(c)))
    out = []
    for draw, it, prefix in ((d, items, "BG"), (c, c_items, "BH")):
        out.append(
            pa.table(
                {
                    "change_id": _ids(prefix, province, eb, draw),
                    "uscc": eb.uscc.take(draw.row),
                    "changed_on": day_str(draw.day),
                    "item": it,
                    "_file": month_of(draw.day),
                }
            )
        )
    return pa.concat_tables(out)


def penalty_table(
    rng: np.random.Generator,
    decision_no: pa.Array,
    uscc: pa.Array,
    days: np.ndarray,
    rr: np.ndarray,
    authority: pa.Array,
    window_end: int,
) -> pa.Table:
    """Valid penalty rows for given entities/dates (shared with the benchmark writer)."""
    n = len(days)
    p_severe = np.minimum(0.04 * rr**0.5, 0.3)
    severe = rng.random(n) < p_severe
    low_keys, low_p = vocab.probs(vocab.PENALTY_KINDS_LOW)
    sev_keys, sev_p = vocab.probs(vocab.SEVERE_KINDS)
    kind_names = low_keys + sev_keys
    kind = np.where(
        severe,
        len(low_keys) + rng.choice(len(sev_keys), size=n, p=sev_p),
        rng.choice(len(low_keys), size=n, p=low_p),
    )
    kinds = strs(kind_names, kind)
    fined = np.isin(kind, [low_keys.index("fine"), low_keys.index("confiscation")]) | (
        severe & (rng.random(n) < 0.5)
    )
    amount = np.round(np.exp(8.5 + 1.2 * rng.standard_normal(n)) / 100) * 10_000  # whole hundreds of CNY
    withdrawn_u = rng.random(n)
    withdrawn = withdrawn_u < 0.015
    withdrawn_null = withdrawn_u > 0.7
    repair_ok = ~withdrawn & ~severe & (days + 90 <= window_end) & (rng.random(n) < 0.15)
    repaired = np.where(
        repair_ok, uniform_days(rng, np.minimum(days + 90, window_end), np.full(n, window_end)), 0
    )
    return pa.table(
        {
            "decision_no": decision_no,
            "uscc": uscc,
            "decided_on": day_str(days),
            "authority": authority,
            "domain": _choice(rng, vocab.PENALTY_DOMAINS, n),
            "kind": kinds,
            "amount": money(amount, ~fined),
            "repaired_on": day_str(repaired, ~repair_ok),
            "withdrawn": bool_str(withdrawn, withdrawn_null),
            "kinds": kinds,  # one kind per generated decision
        }
    )


def decision_numbers(abbr: str, days: np.ndarray, serial: np.ndarray, seq: np.ndarray) -> pa.Array:
    year = pc.utf8_slice_codeunits(day_str(days), 0, 4)
    return join(abbr, "市监处罚〔", year, "〕", digits(serial, 9), "-", digits(seq, 2), "号")


def penalties(
    rng: np.random.Generator, eb: EntityBlock, window: Window, regions: Regions, months: int
) -> pa.Table:
    lo, hi = _bounds(eb, window)
    d = _Draw(rng, rng.poisson(0.095 * eb.rr * months / 24), lo, hi)
    t = penalty_table(
        rng,
        decision_numbers(regions.abbreviation, d.day, eb.gidx[d.row], d.seq),
        eb.uscc.take(d.row),
        d.day,
        eb.rr[d.row],
        _county_text(regions, eb, d, "市场监督管理局"),
        window.end,
    )
    # Every revoked entity has the decision that revoked its business licence.
    rev = np.flatnonzero(eb.status == 1)
    r_days = eb.changed[rev]
    n = len(rev)
    r = pa.table(
        {
            "decision_no": decision_numbers(regions.abbreviation, r_days, eb.gidx[rev], np.full(n, 99)),
            "uscc": eb.uscc.take(rev),
            "decided_on": day_str(r_days),
            "authority": join(strs(regions.names, eb.county[rev]), "市场监督管理局"),
            "domain": const("registration", n),
            "kind": const("revoke_business_license", n),
            "amount": pa.nulls(n, pa.string()),
            "repaired_on": pa.nulls(n, pa.string()),
            "withdrawn": const("false", n),
            "kinds": const("revoke_business_license", n),
        }
    )
    t = pa.concat_tables([t, r])
    return t.append_column("_file", month_of(np.concatenate([d.day, r_days])))


def annual_reports(
    rng: np.random.Generator, eb: EntityBlock, window: Window
) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """Reports for every year whose filing season (Jan–Jun of the next year) opened in the window.

    Also returns (entity row, year) of the reports not filed by 30 June, for the abnormal list.
    """
    first = int(str(np.datetime64(window.start, "D"))[:4]) - 1
    last = int(str(np.datetime64(window.end, "D"))[:4]) - 1
    p_miss = risk_share(eb.rr, 1.3, 0.05, cap=0.95)
    tables, miss_rows, miss_years = [], [], []
    for year in range(first, last + 1):
        season = days_of(f"{year + 1}-01-01")
        if season > window.end:
            continue
        rows = np.flatnonzero((eb.established <= season - 1) & (eb.active_until >= season))
        n = len(rows)
        missing = rng.random(n) < p_miss[rows]
        late = rng.random(n) < 0.05
        filed = np.where(
            late,
            rng.integers(season + 181, season + 365, size=n),
            rng.integers(season + 9, season + 181, size=n),
        )
        unfiled = missing | (filed > window.end) | (filed > eb.active_until[rows])
        miss_rows.append(rows[missing])
        miss_years.append(np.full(int(missing.sum()), year))
        tables.append(
            pa.table(
                {
                    "uscc": eb.uscc.take(rows),
                    "year": const(str(year), n),
                    "filed_on": day_str(filed, unfiled),
                    "_file": const(str(year), n),
                }
            )
        )
    empty = pa.table({k: pa.array([], pa.string()) for k in ("uscc", "year", "filed_on", "_file")})
    table = pa.concat_tables(tables) if tables else empty
    return (
        table,
        np.concatenate(miss_rows or [np.zeros(0, np.int64)]),
        np.concatenate(miss_years or [np.zeros(0, np.int64)]),
    )


def abnormal_list(
    rng: np.random.Generator,
    eb: EntityBlock,
    window: Window,
    province: str,
    months: int,
    missed: tuple[np.ndarray, np.ndarray],
) -> pa.Table:
    lo, hi = _bounds(eb, window)
    d = _Draw(rng, rng.poisson(risk_share(eb.rr, 1.3, 0.008 * months / 24)), lo, hi)
    reasons = _choice(rng, vocab.ABNORMAL_REASONS, len(d))
    # About a third of the entities that missed the 30 June deadline are listed in July–September.
    rows, years = missed
    uniq, inv = np.unique(years, return_inverse=True)
    season_end = np.array([days_of(f"{int(y) + 1}-07-01") for y in uniq], dtype=np.int64)[inv]
    listed = season_end + rng.integers(0, 92, size=len(rows))
    keep = (rng.random(len(rows)) < 0.3) & (listed >= window.start) & (listed <= window.end)
    keep &= listed <= eb.active_until[rows]
    rows, listed = rows[keep], listed[keep]
    all_rows = np.concatenate([d.row, rows])
    all_days = np.concatenate([d.day, listed])
    seq = np.concatenate([d.seq, years[keep] % 100])  # distinct: event seq < 50, years ≥ 50
    ids = join(
        "YC",
        province,
        "-",
        digits(eb.gidx[all_rows], 9),
        "-",
        digits(seq, 2),
    )
    reason = pa.concat_arrays([reasons, const("no_annual_report", len(rows))])
    return pa.table(
        {
            "record_id": ids,
            "uscc": eb.uscc.take(all_rows),
            "listed_on": day_str(all_days),
            "reason": reason,
            "removed_on": _removed(rng, all_days, 0.3, window, 30),
            "_file": month_of(all_days),
        }
    )


def serious_dishonesty(
    rng: np.random.Generator, eb: EntityBlock, window: Window, province: str, months: int
) -> pa.Table:
    lo, hi = _bounds(eb, window)
    listed = rng.random(len(eb.rr)) < risk_share(eb.rr, 2.0, 0.003 * months / 24, cap=0.5)
    d = _Draw(rng, listed.astype(np.int64), lo, hi)
    return pa.table(
        {
            "record_id": _ids("YZ", province, eb, d),
            "uscc": eb.uscc.take(d.row),
            "listed_on": day_str(d.day),
            "reason": strs(vocab.SERIOUS_REASONS, rng.integers(0, len(vocab.SERIOUS_REASONS), size=len(d))),
            "removed_on": _removed(rng, d.day, 0.1, window, 365),
            "_file": month_of(d.day),
        }
    )


def plan_ids(seed: int, province: str, month: str, k: int) -> tuple[str, ...]:
    """The month's sampling plans: ``PP-`` + 20 hex digits, never a long run of digits."""
    out = []
    for i in range(k):
        h = hashlib.sha256(f"{seed}/{province}/{month}/{i}".encode()).hexdigest()[:20]
        out.append(f"{province}-{'a' + h[1:10] + 'b' + h[11:]}")
    return tuple(out)


INSPECTION_RESULTS = ("no_problem", "corrected", "problem_found", "not_at_address", "refused")


def inspection_results(rng: np.random.Generator, rr: np.ndarray) -> np.ndarray:
    """Index into ``INSPECTION_RESULTS`` per inspection of an entity with latent risk ``rr``.

    Every outcome but no_problem is a finding (analysis.effectiveness.PROBLEM_RESULTS), so each
    rises with the latent risk; the rest (most inspections, as in published results) find nothing."""
    p_problem = np.minimum(0.05 * rr, 0.6)
    p_corrected = np.minimum(0.04 * rr, 0.2)
    p_away = 0.03 * np.sqrt(rr)
    u = rng.random(len(rr))
    out: np.ndarray = np.select(
        [
            u < p_problem,
            u < p_problem + p_away,
            u < p_problem + p_away + 0.01,
            u < p_problem + p_away + 0.01 + p_corrected,
        ],
        [2, 3, 4, 1],
        default=0,
    )
    return out


def inspections(
    rng: np.random.Generator, eb: EntityBlock, window: Window, province: str, months: int, seed: int
) -> pa.Table:
    lo, hi = _bounds(eb, window)
    rate = 0.05 * months / 12 * (0.7 + 0.3 * eb.rr)
    d = _Draw(rng, rng.poisson(rate), lo, hi)
    n = len(d)
    result = inspection_results(rng, eb.rr[d.row])
    month = month_of(d.day)
    month_idx = pc.index_in(month, value_set=pa.array(window.months)).to_numpy(zero_copy_only=False)
    plans = [p for m in window.months for p in plan_ids(seed, province, m, 3)]
    plan_idx = month_idx * 3 + rng.integers(0, 3, size=n)
    has_plan = rng.random(n) < 0.85
    return pa.table(
        {
            "inspection_id": _ids("JC", province, eb, d),
            "uscc": eb.uscc.take(d.row),
            "inspected_on": day_str(d.day),
            "plan_id": pc.if_else(pa.array(has_plan), strs(plans, plan_idx), _NULL),
            "domain": _choice(rng, vocab.INSPECTION_DOMAINS, n),
            "result": strs(INSPECTION_RESULTS, result),
            "_file": month,
        }
    )


def complaints(
    rng: np.random.Generator, eb: EntityBlock, window: Window, province: str, months: int
) -> pa.Table:
    lo, hi = _bounds(eb, window)
    d = _Draw(rng, rng.poisson(0.08 * eb.rr * months / 12), lo, hi)
    # A few entities see a surge in the last month.
    last_start = days_of(window.months[-1] + "-01")
    surge = (rng.random(len(eb.rr)) < 0.0005) & (hi >= window.end) & (lo <= last_start)
    s = _Draw(rng, np.where(surge, 5 + rng.poisson(8, size=len(surge)), 0), np.full(len(lo), last_start), hi)
    out = []
    for draw, prefix in ((d, "TS"), (s, "TT")):
        n = len(draw)
        u = rng.random(n)
        out.append(
            pa.table(
                {
                    "complaint_id": _ids(prefix, province, eb, draw),
                    "uscc": eb.uscc.take(draw.row),
                    "received_on": day_str(draw.day),
                    "kind": strs(("complaint", "report"), (rng.random(n) < 0.25).astype(np.int64)),
                    "substantiated": bool_str(u < 0.25 + 0.05 * np.minimum(eb.rr[draw.row], 6), u > 0.7),
                    "_file": month_of(draw.day),
                }
            )
        )
    return pa.concat_tables(out)


def _person(gidx: np.ndarray, slot: int) -> pa.Array:
    """Pseudonymous person ids (``P`` + 11 digits), a bijection of (entity, slot): never collide."""
    x = ((gidx * 8 + slot) * 2654435761) % (9 * 10**10) + 10**10
    return join("P", pa.array(x, pa.int64()).cast(pa.string()))


def relationships(rng: np.random.Generator, eb: EntityBlock, window: Window) -> pa.Table:
    n = len(eb.rr)
    tables = []
    has_rep = eb.rep > 0
    rows = np.flatnonzero(has_rep)
    tables.append(
        pa.table(
            {
                "uscc": eb.uscc.take(rows),
                "party_id": join("P", pa.array(eb.rep[rows]).cast(pa.string())),
                "relation": const("legal_rep", len(rows)),
                "since": day_str(eb.established[rows]),
                "until": pa.nulls(len(rows), pa.string()),
                "_gidx": pa.array(eb.gidx[rows]),
            }
        )
    )
    ent = np.flatnonzero(eb.etype == 0)
    n_share = np.minimum(1 + rng.poisson(0.8, size=len(ent)), 4)
    for j in range(4):
        rows = ent[n_share > j]
        m = len(rows)
        is_entity = (rng.random(m) < 0.2) & (n > 8)
        # Distinct other entities of the block for distinct slots (offset 1 + 2j, never itself).
        other = (rows + 1 + 2 * j) % max(n, 1)
        party = pc.if_else(pa.array(is_entity), eb.uscc.take(other), _person(eb.gidx[rows], j))
        ended = rng.random(m) < 0.05
        since = eb.established[rows] + np.where(rng.random(m) < 0.3, rng.integers(0, 2000, size=m), 0)
        since = np.minimum(since, window.end)
        until = np.where(ended, np.minimum(since + rng.integers(30, 2000, size=m), window.end), 0)
        tables.append(
            pa.table(
                {
                    "uscc": eb.uscc.take(rows),
                    "party_id": party,
                    "relation": const("shareholder", m),
                    "since": day_str(since),
                    "until": day_str(until, ~ended),
                    "_gidx": pa.array(eb.gidx[rows]),
                }
            )
        )
    rows = ent[rng.random(len(ent)) < 0.3]
    tables.append(
        pa.table(
            {
                "uscc": eb.uscc.take(rows),
                "party_id": _person(eb.gidx[rows], 7),
                "relation": const("executive", len(rows)),
                "since": day_str(eb.established[rows]),
                "until": pa.nulls(len(rows), pa.string()),
                "_gidx": pa.array(eb.gidx[rows]),
            }
        )
    )
    t = pa.concat_tables(tables)
    g = t["_gidx"].to_numpy()
    t = t.take(pa.array(np.argsort(g, kind="stable")))
    return t.drop_columns(["_gidx"]).append_column("_file", part_name(np.sort(g)))


def other_dishonesty(
    rng: np.random.Generator, eb: EntityBlock, window: Window, regions: Regions, province: str, months: int
) -> pa.Table:
    lo, hi = _bounds(eb, window)
    d = _Draw(rng, rng.poisson(0.03 * eb.rr**1.2 * months / 12), lo, hi)
    n = len(d)
    cats = tuple(vocab.OTHER_DISHONESTY)
    w = np.array([vocab.OTHER_DISHONESTY[c][0] for c in cats], dtype=np.float64)
    cat = rng.choice(len(cats), size=n, p=w / w.sum())
    serious = rng.random(n) < np.minimum(0.08 * np.sqrt(eb.rr[d.row]), 0.4)
    return pa.table(
        {
            "record_id": _ids("SX", province, eb, d),
            "uscc": eb.uscc.take(d.row),
            "recorded_on": day_str(d.day),
            "category": strs(cats, cat),
            "severity": strs(("general", "serious"), serious.astype(np.int64)),
            "source": join(
                strs(regions.names, eb.county[d.row]),
                strs(tuple(vocab.OTHER_DISHONESTY[c][1] for c in cats), cat),
            ),
            "removed_on": _removed(rng, d.day, 0.2, window, 60),
            "_file": month_of(d.day),
        }
    )


def block_tables(
    eb: EntityBlock, block: int, seed: int, regions: Regions, window: Window
) -> dict[str, pa.Table]:
    """All thirteen datasets for one block (one generator per dataset, so adding one changes no other;
    the fields' inspections have their own, so the spot checks are the same as without them)."""
    p = regions.province
    m = len(window.months)

    def rng(k: int) -> np.random.Generator:
        return np.random.default_rng([seed, block, 100 + k])

    from functions.generate import fields

    annual, miss_rows, miss_years = annual_reports(rng(3), eb, window)
    entities = eb.table.append_column("_file", part_name(eb.gidx))
    licences = fields.licences(rng(12), eb, window, p)
    equipment = fields.equipment(rng(13), eb, window, p)
    penalty = penalties(rng(4), eb, window, regions, m)
    complaint = fields.complaint_domains(rng(11), eb, complaints(rng(8), eb, window, p, m))
    field_inspections = fields.field_inspections(
        rng(15), eb, window, p, m, licences, equipment, (penalty, complaint)
    )
    return {
        "entities": entities,
        "registration_changes": registration_changes(rng(2), eb, window, p, m),
        "annual_reports": annual,
        "penalties": penalty,
        "abnormal_list": abnormal_list(rng(5), eb, window, p, m, (miss_rows, miss_years)),
        "serious_dishonesty_list": serious_dishonesty(rng(6), eb, window, p, m),
        # the 双随机 spot checks, then the fields' routine inspections of their licensees and users
        "inspections": pa.concat_tables([inspections(rng(7), eb, window, p, m, seed), field_inspections]),
        "complaints": complaint,
        "relationships": relationships(rng(9), eb, window),
        "other_dishonesty": other_dishonesty(rng(10), eb, window, regions, p, m),
        # the professional fields' own data (docs/adr/0118)
        "licences": licences,
        "equipment": equipment,
        "product_checks": fields.product_checks(rng(14), eb, window, p, m),
    }


__all__ = [
    "BLOCK",
    "ENTITIES_PER_PART",
    "INSPECTION_RESULTS",
    "block_tables",
    "decision_numbers",
    "inspection_results",
    "penalty_table",
]
