"""The professional fields' own datasets of one block (licences, special-equipment registrations,
product spot checks) and the field of each complaint, so a synthetic province has field
populations to classify (docs/synthetic-data.md, docs/adr/0118).

Who is in a field follows the entity's industry section (GB/T 4754): catering and trade hold
food licences, manufacturing industrial-product licences and test failures, hotels, property
management and manufacturing use boilers and lifts; failures, overdue inspections, lapsed and
revoked licences and the findings of the fields' routine inspections rise with the latent risk
``rr``. Each table has its own generator (block seed, k ≥ 11); the fields' inspections are rows
added to ``inspections``, so the spot checks are the same as without the fields.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from functions.generate.arrowutil import day_str, digits, join, month_of, strs, uniform_days
from functions.generate.events import _bounds, _Draw, _ids, part_name
from functions.generate.population import EntityBlock, Window

# licence type → (share of entities holding one, by industry section)
LICENCE_RATES: dict[str, dict[str, float]] = {
    "food_business": {"H": 0.6, "F": 0.25},
    "food_production": {"C": 0.06},
    "drug_business": {"F": 0.03},
    "drug_production": {"C": 0.004},
    "medical_device": {"F": 0.01, "C": 0.003},
    "special_equipment_production": {"C": 0.005},
    "industrial_product": {"C": 0.05},
}
EQUIPMENT_RATES = {"C": 0.25, "H": 0.2, "K": 0.3, "D": 0.3, "E": 0.1}  # users of special equipment
EQUIPMENT_KINDS = ("boiler", "pressure_vessel", "pressure_piping", "elevator", "lifting", "site_vehicle")
CHECK_DOMAINS = {"H": "food", "F": "food", "C": "product_quality"}  # sample tests per section
COMPLAINT_DOMAINS = {"H": "food", "F": "food", "C": "product_quality", "K": "special_equipment"}
YEAR = 365
TERM = 5 * YEAR  # a field licence is valid 5 years (食品经营许可证, 药品经营许可证 and others)
# routine inspections a year per entity active in the field (日常监督检查), beside the 双随机 spot
# checks every entity gets: licensees of food and drugs, users of special equipment, manufacturers
FIELD_INSPECTION_RATES = {"food": 0.5, "drug": 1.5, "special_equipment": 1.0, "product_quality": 0.6}
FIELD_LICENCES = {
    "food": ("food_production", "food_business"),
    "drug": ("drug_production", "drug_business", "medical_device"),
    "special_equipment": ("special_equipment_production",),
    "product_quality": ("industrial_product",),
}


def _sections(eb: EntityBlock) -> np.ndarray:
    return np.asarray(pc.utf8_slice_codeunits(eb.table["industry_code"], 0, 1).to_pylist(), dtype=object)


def _rate(sections: np.ndarray, by_section: dict[str, float]) -> np.ndarray:
    return np.array([by_section.get(s, 0.0) for s in sections], dtype=np.float64)


def licences(rng: np.random.Generator, eb: EntityBlock, window: Window, province: str) -> pa.Table:
    """One row per licence term (5 years): a holder gets its first licence soon after it is
    established and renews it while it operates, unless it lets it lapse (more often the riskier
    it is); the authority revokes some (also rising with the risk). Without renewals every
    licence older than 5 years had expired, and "no valid licence" measured age, not risk."""
    sec = _sections(eb)
    hi = np.minimum(eb.active_until, window.end)
    tables = []
    for k, (ltype, rates) in enumerate(LICENCE_RATES.items()):
        has = rng.random(len(sec)) < _rate(sec, rates)
        first = eb.established + rng.integers(0, 120, size=len(sec))
        terms = np.where(has & (first <= hi), (hi - first) // TERM + 1, 0)
        # a lapsing holder stops renewing after one of its terms (a lapse in the last one shows
        # only once that term has run out)
        lapse = rng.random(len(sec)) < np.minimum(0.05 * eb.rr, 0.6)
        stop = 1 + (rng.random(len(sec)) * terms).astype(np.int64)
        terms = np.where(lapse, np.minimum(stop, terms), terms)
        row = np.repeat(np.arange(len(sec)), terms)
        seq = np.arange(len(row)) - np.repeat(np.cumsum(terms) - terms, terms)
        n = len(row)
        valid_from = first[row] + seq * TERM
        valid_to = valid_from + TERM - 1
        last = seq == terms[row] - 1
        rr = eb.rr[row]
        revoked = last & (rng.random(n) < np.minimum(0.01 * rr, 0.3))
        revoked_on = uniform_days(rng, valid_from, np.maximum(valid_from, np.minimum(valid_to, window.end)))
        tables.append(
            pa.table(
                {
                    "licence_no": join(f"XK{k}", province, "-", digits(eb.gidx[row], 9), "-", digits(seq, 2)),
                    "uscc": eb.uscc.take(row),
                    "licence_type": strs((ltype,), np.zeros(n, dtype=np.int64)),
                    "valid_from": day_str(valid_from),
                    "valid_to": day_str(valid_to),
                    "revoked_on": day_str(revoked_on, ~revoked),
                    "_file": part_name(eb.gidx[row]) if n else pa.array([], pa.string()),
                }
            )
        )
    return pa.concat_tables(tables)


def equipment(rng: np.random.Generator, eb: EntityBlock, window: Window, province: str) -> pa.Table:
    sec = _sections(eb)
    users = rng.random(len(sec)) < _rate(sec, EQUIPMENT_RATES)
    counts = np.where(users, 1 + rng.poisson(1.5, size=len(sec)), 0)
    hi = np.minimum(eb.active_until, window.end)
    d = _Draw(rng, counts, eb.established, hi)
    n = len(d)
    rr = eb.rr[d.row]
    # the next periodic inspection falls around the window's end; riskier users let it lapse
    lapse = rng.random(n) < np.minimum(0.04 * rr, 0.5)
    due = np.where(
        lapse,
        window.end - rng.integers(1, 240, size=n),
        window.end + rng.integers(1, YEAR, size=n),
    )
    status = np.select([rng.random(n) < 0.05, rng.random(n) < 0.03], [1, 2], default=0)
    return pa.table(
        {
            "equipment_id": _ids("TS", province, eb, d),
            "uscc": eb.uscc.take(d.row),
            "kind": strs(EQUIPMENT_KINDS, rng.integers(0, len(EQUIPMENT_KINDS), size=n)),
            "registered_on": day_str(d.day),
            "next_inspection_due": day_str(due),
            "status": strs(("in_use", "suspended", "deregistered"), status),
            "_file": part_name(eb.gidx[d.row]) if n else pa.array([], pa.string()),
        }
    )


def product_checks(
    rng: np.random.Generator, eb: EntityBlock, window: Window, province: str, months: int
) -> pa.Table:
    sec = _sections(eb)
    domain = np.array([CHECK_DOMAINS.get(s, "") for s in sec], dtype=object)
    rate = np.where(domain != "", 0.15 * months / 12 * (0.7 + 0.3 * eb.rr), 0.0)
    lo, hi = _bounds(eb, window)
    d = _Draw(rng, rng.poisson(rate), lo, hi)
    n = len(d)
    fail = rng.random(n) < np.minimum(0.03 * eb.rr[d.row], 0.5)
    doms = tuple(sorted(set(CHECK_DOMAINS.values())))
    return pa.table(
        {
            "check_id": _ids("CJ", province, eb, d),
            "uscc": eb.uscc.take(d.row),
            "checked_on": day_str(d.day),
            "domain": strs(doms, np.array([doms.index(x) for x in domain[d.row]], dtype=np.int64)),
            "product": strs(("样品",), np.zeros(n, dtype=np.int64)),
            "result": strs(("pass", "fail"), fail.astype(np.int64)),
            "_file": month_of(d.day),
        }
    )


def field_inspections(
    rng: np.random.Generator,
    eb: EntityBlock,
    window: Window,
    province: str,
    months: int,
    licences: pa.Table,
    equipment: pa.Table,
    records: tuple[pa.Table, ...],
) -> pa.Table:
    """The fields' routine inspections (domain = the field, no sampling plan) of the entities
    active in a field: its licence holders, special-equipment users, manufacturers (product
    quality) and whoever has a penalty or a complaint of the field in ``records`` (follow-up
    inspections). Outcomes follow the latent risk like the spot checks', so a field's class can
    be checked against the field's own later inspections (docs/adr/0146)."""
    from functions.generate.events import INSPECTION_RESULTS, inspection_results

    sec = _sections(eb)
    lo, hi = _bounds(eb, window)
    holders = {
        domain: pc.is_in(
            eb.uscc,
            value_set=pc.filter(licences["uscc"], pc.is_in(licences["licence_type"], pa.array(types))),
        ).to_numpy(zero_copy_only=False)
        for domain, types in FIELD_LICENCES.items()
    }
    holders["special_equipment"] |= pc.is_in(eb.uscc, value_set=equipment["uscc"]).to_numpy(
        zero_copy_only=False
    )
    holders["product_quality"] |= sec == "C"
    for table in records:
        for domain in FIELD_LICENCES:
            of_field = pc.filter(table["uscc"], pc.fill_null(pc.equal(table["domain"], domain), False))
            holders[domain] |= pc.is_in(eb.uscc, value_set=of_field).to_numpy(zero_copy_only=False)
    doms = tuple(FIELD_INSPECTION_RATES)
    tables = []
    for k, domain in enumerate(doms):
        rate = np.where(
            holders[domain], FIELD_INSPECTION_RATES[domain] * months / 12 * (0.7 + 0.3 * eb.rr), 0.0
        )
        d = _Draw(rng, np.minimum(rng.poisson(rate), 99), lo, hi)
        n = len(d)
        tables.append(
            pa.table(
                {
                    "inspection_id": _ids(f"JF{k}", province, eb, d),
                    "uscc": eb.uscc.take(d.row),
                    "inspected_on": day_str(d.day),
                    "plan_id": pa.nulls(n, pa.string()),
                    "domain": strs((domain,), np.zeros(n, dtype=np.int64)),
                    "result": strs(INSPECTION_RESULTS, inspection_results(rng, eb.rr[d.row])),
                    "_file": month_of(d.day),
                }
            )
        )
    return pa.concat_tables(tables)


def complaint_domains(rng: np.random.Generator, eb: EntityBlock, complaints: pa.Table) -> pa.Table:
    """``complaints`` with a ``domain``: the field of the entity's section for about 60 %, else
    empty (not known), so field systems read field complaints and the rest stay general only."""
    sec = dict(zip(eb.uscc.to_pylist(), _sections(eb), strict=True))
    codes = complaints["uscc"].to_pylist()
    field = [COMPLAINT_DOMAINS.get(sec.get(c, ""), "") for c in codes]
    known = rng.random(len(codes)) < 0.6
    values = [f if (k and f) else None for f, k in zip(field, known, strict=True)]
    return complaints.add_column(complaints.num_columns - 1, "domain", pa.array(values, pa.string()))


__all__ = ["complaint_domains", "equipment", "field_inspections", "licences", "product_checks"]
