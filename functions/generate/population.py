"""Entities of one generation block, each with a latent risk that drives its events.

The latent relative risk ``rr`` is log-normal with mean 1 (σ = 1.1): most entities are clean,
a heavy tail carries most events. Randomness comes from one generator per block, seeded from
``(seed, block index)``, so the output does not depend on how blocks are batched for writing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from functions.generate import vocab
from functions.generate.arrowutil import day_str, digits, join, money, strings_from_bytes, strs, uniform_days
from functions.generate.regions import Regions
from functions.uscc import ALPHABET, ORG_WEIGHTS, WEIGHTS

BLOCK = 5_000  # entities per random-number block (fixed: part of the output's definition)
RISK_SIGMA = 1.1
USCC_SINCE = 16709  # 2015-10-01: codes issued since then carry "MA…" organisation bodies

_ALPHA = np.frombuffer(ALPHABET.encode(), dtype=np.uint8)
_VALUE = np.full(128, -1, dtype=np.int64)
_VALUE[_ALPHA] = np.arange(len(ALPHABET))
_ORG_VALUE = np.zeros(128, dtype=np.int64)
_ORG_VALUE[48:58] = np.arange(10)
_ORG_VALUE[65:91] = np.arange(10, 36)
_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)


@dataclass(frozen=True)
class Window:
    """The generated period: ``months`` whole months ending with ``end_month``."""

    start: int  # first day (days since epoch)
    end: int  # last day
    months: tuple[str, ...]


@dataclass
class EntityBlock:
    """Columns of one block's entities as numpy arrays plus the Arrow text columns."""

    gidx: np.ndarray  # global entity index
    uscc: pa.Array
    etype: np.ndarray  # 0 enterprise, 1 individual, 2 cooperative
    county: np.ndarray
    established: np.ndarray
    status: np.ndarray  # 0 active, 1 revoked, 2 cancelled, 3 moved_out
    changed: np.ndarray  # status_changed_on, -1 = none
    rr: np.ndarray
    rep: np.ndarray  # legal_rep_id number
    address: pa.Array
    cluster: np.ndarray  # bool: part of a clustered registration
    table: pa.Table  # the entities rows (strings)

    @property
    def active_until(self) -> np.ndarray:
        return np.where(self.changed >= 0, self.changed, np.iinfo(np.int64).max)


STATUSES = ("active", "revoked", "cancelled", "moved_out")


def risk_share(rr: np.ndarray, k: float, target: float, cap: float = 0.9) -> np.ndarray:
    """Per-entity probability ∝ rr**k with population mean ≈ ``target``."""
    mean_rrk = np.exp(RISK_SIGMA**2 * (k * k - k) / 2)  # E[rr^k] for log-normal rr with E[rr]=1
    out: np.ndarray = np.minimum(target * rr**k / mean_rrk, cap)
    return out


def make_usccs(
    rng: np.random.Generator, etype: np.ndarray, county_codes: np.ndarray, new_style: np.ndarray
) -> pa.Array:
    """Valid USCCs (dept 9), vectorised; never shaped like a resident ID number."""
    n = len(etype)
    mat = np.empty((n, 18), dtype=np.uint8)
    mat[:, 0] = ord("9")
    mat[:, 1] = ord("1") + etype
    mat[:, 2:8] = county_codes
    org = rng.integers(0, 10, size=(n, 8), dtype=np.uint8) + ord("0")
    ma = new_style
    org[ma, 0] = ord("M")
    org[ma, 1] = ord("A")
    org[ma, 2:8] = _ALPHA[rng.integers(0, len(_ALPHA), size=(int(ma.sum()), 6))]
    mat[:, 8:16] = org
    _finish(mat)
    # An all-digit code that passes ISO 7064 MOD 11-2 would look like a resident ID: re-issue as MA.
    looks_like_id = _id_shaped(mat)
    if looks_like_id.any():
        mat[looks_like_id, 8] = ord("M")
        mat[looks_like_id, 9] = ord("A")
        _finish(mat)
    return strings_from_bytes(mat)


def _finish(mat: np.ndarray) -> None:
    org_sum = (_ORG_VALUE[mat[:, 8:16]] * np.array(ORG_WEIGHTS)).sum(axis=1)
    c = 11 - org_sum % 11
    mat[:, 16] = np.where(c == 10, ord("X"), np.where(c == 11, ord("0"), ord("0") + c % 10))
    total = (_VALUE[mat[:, :17]] * np.array(WEIGHTS)).sum(axis=1)
    v = 31 - total % 31
    mat[:, 17] = _ALPHA[np.where(v == 31, 0, v)]


def _id_shaped(mat: np.ndarray) -> np.ndarray:
    is_digit = (mat >= ord("0")) & (mat <= ord("9"))
    all_digits = is_digit[:, :17].all(axis=1)
    s = ((mat[:, :17].astype(np.int64) - ord("0")) * _ID_WEIGHTS).sum(axis=1)
    check = (12 - s % 11) % 11
    expected = np.where(check == 10, ord("X"), ord("0") + check)
    out: np.ndarray = all_digits & (mat[:, 17] == expected)
    return out


_SECTIONS = tuple(vocab.DIVISIONS)
_DIV_LO = np.array([vocab.DIVISIONS[c][0] for c in _SECTIONS], dtype=np.int64)
_DIV_HI = np.array([vocab.DIVISIONS[c][1] for c in _SECTIONS], dtype=np.int64)
_SUFFIX = tuple(vocab.ENTERPRISE_SUFFIX[c] for c in _SECTIONS)


def _industry(rng: np.random.Generator, etype: np.ndarray) -> tuple[np.ndarray, pa.Array]:
    """Section index per entity and the industry code (letter, 60% with a 2-digit division)."""
    n = len(etype)
    section = np.zeros(n, dtype=np.int64)
    tables: tuple[Mapping[str, float], ...] = (
        vocab.INDUSTRY_ENTERPRISE,
        vocab.INDUSTRY_INDIVIDUAL,
        vocab.INDUSTRY_COOPERATIVE,
    )
    for t, table in enumerate(tables):
        sel = etype == t
        keys, p = vocab.probs(table)
        idx = np.array([_SECTIONS.index(k) for k in keys])
        section[sel] = idx[rng.choice(len(keys), size=int(sel.sum()), p=p)]
    lo, hi = _DIV_LO[section], _DIV_HI[section]
    div = lo + np.floor(rng.random(n) * (hi - lo + 1)).astype(np.int64)
    letter = strs(_SECTIONS, section)
    with_div = rng.random(n) < 0.6
    code = pc.if_else(pa.array(with_div), join(letter, digits(div, 2)), letter)
    return section, code


def entity_block(block: int, n: int, seed: int, regions: Regions, window: Window) -> EntityBlock:
    """The ``n`` entities of block ``block`` (global indices ``block*BLOCK …``)."""
    rng = np.random.default_rng([seed, block, 1])
    gidx = block * BLOCK + np.arange(n, dtype=np.int64)
    etype = rng.choice(3, size=n, p=vocab.ENTITY_TYPE_P).astype(np.int64)
    county = rng.choice(len(regions.codes), size=n, p=regions.weights)
    rr = np.exp(RISK_SIGMA * rng.standard_normal(n) - RISK_SIGMA**2 / 2)
    # Age: 30 years, skewed to recent registrations.
    age = np.floor(30 * 365.25 * rng.random(n) ** 1.8).astype(np.int64)
    established = window.end - age
    # Clustered registrations: one person registers several companies at one address within 30 days.
    cluster = np.zeros(n, dtype=bool)
    n_clusters = max(1, rng.poisson(n / 5_000)) if n >= 1_000 else 0
    starts = rng.choice(max(n // 20, 1), size=min(n_clusters, max(n // 20, 1)), replace=False) * 20
    sizes = rng.integers(5, 13, size=len(starts))
    cluster_rep = rng.integers(10**10, 10**11, size=len(starts))
    cluster_county = rng.choice(len(regions.codes), size=len(starts), p=regions.weights)
    cluster_day = rng.integers(window.end - 150, window.end - 30, size=len(starts))
    rep = rng.integers(10**10, 10**11, size=n)
    road = rng.integers(0, len(vocab.ROADS), size=n)
    house = rng.integers(1, 999, size=n)
    for s, size, crep, ccounty, cday in zip(
        starts, sizes, cluster_rep, cluster_county, cluster_day, strict=True
    ):
        sl = slice(int(s), int(min(s + size, n)))
        cluster[sl] = True
        etype[sl] = 0
        county[sl] = ccounty
        rep[sl] = crep
        road[sl] = road[sl.start]
        house[sl] = house[sl.start]
        established[sl] = cday + rng.integers(0, 30, size=sl.stop - sl.start)
        rr[sl] *= 4.0
    county_codes = np.frombuffer("".join(regions.codes).encode(), dtype=np.uint8).reshape(-1, 6)[county]
    uscc = make_usccs(rng, etype, county_codes, established >= USCC_SINCE)
    # Status: revocation is risk-driven and falls in the window (it is a penalty recorded there).
    u = rng.random(n)
    p_rev = risk_share(rr, 1.5, 0.01)
    status = np.where(u < p_rev, 1, np.where(u < p_rev + 0.03, 2, np.where(u < p_rev + 0.035, 3, 0)))
    status[cluster] = 0
    changed = np.full(n, -1, dtype=np.int64)
    rev = status == 1
    changed[rev] = uniform_days(
        rng, np.maximum(established[rev] + 180, window.start), np.full(rev.sum(), window.end)
    )
    other = status >= 2
    changed[other] = uniform_days(rng, established[other] + 30, np.full(other.sum(), window.end))
    bad = changed > window.end  # established too recently for the change: stays active
    status[bad] = 0
    changed[bad] = -1
    section, industry = _industry(rng, etype)
    # Names: county + trade name + a suffix fitting the type and industry.
    county_names = strs(regions.names, county)
    trade = strs(vocab.TRADE_NAMES, rng.integers(0, len(vocab.TRADE_NAMES), size=n))
    ent_suffix = strs(_SUFFIX, section)
    ind_suffix = strs(vocab.INDIVIDUAL_SUFFIX, rng.integers(0, len(vocab.INDIVIDUAL_SUFFIX), size=n))
    coop_suffix = strs(vocab.COOPERATIVE_SUFFIX, rng.integers(0, len(vocab.COOPERATIVE_SUFFIX), size=n))
    suffix = pc.if_else(
        pa.array(etype == 0), ent_suffix, pc.if_else(pa.array(etype == 1), ind_suffix, coop_suffix)
    )
    name = join(county_names, trade, suffix)
    address = join(county_names, strs(vocab.ROADS, road), pa.array(house, pa.int64()).cast(pa.string()), "号")
    # Registered capital (10k CNY), log-normal by type; individuals often leave it empty.
    mu = np.array([4.6, 1.6, 3.9])[etype]
    sigma = np.array([1.5, 1.0, 1.2])[etype]
    capital = np.round(np.exp(mu + sigma * rng.standard_normal(n)) * 100)
    capital_null = (etype == 1) & (rng.random(n) < 0.3)
    new_economy = rng.random(n) < np.where(
        np.isin(section, [_SECTIONS.index("I"), _SECTIONS.index("M")]), 0.25, 0.035
    )
    no_rep = (etype == 1) & (rng.random(n) < 0.02)
    rep[no_rep] = 0
    table = pa.table(
        {
            "uscc": uscc,
            "name": name,
            "entity_type": strs(vocab.ENTITY_TYPES, etype),
            "region_code": strs(regions.codes, county),
            "industry_code": industry,
            "established_on": day_str(established),
            "registered_capital": money(capital, capital_null),
            "status": strs(STATUSES, status),
            "status_changed_on": day_str(np.maximum(changed, 0), changed < 0),
            "address": address,
            "legal_rep_id": pc.if_else(
                pa.array(no_rep), pa.scalar(None, pa.string()), join("P", pa.array(rep).cast(pa.string()))
            ),
            "is_new_economy": pa.array(np.where(new_economy, "true", "false"), pa.string()),
        }
    )
    return EntityBlock(
        gidx, uscc, etype, county, established, status, changed, rr, rep, address, cluster, table
    )
