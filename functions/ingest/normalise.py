"""Raw text columns named by the uploaded headers → contract columns in the contract's own text.

``normalise`` applies a ``ColumnPlan`` (functions.ingest.profiles): renames, drops personal-data
columns, rewrites values (enums in English, ISO dates, amounts in yuan, capital in 万元, 6-digit
region codes, industry codes with their section letter), fills derived columns and marks rows
about natural persons as out of scope. Validation then runs unchanged on the result.

Values are rewritten per *distinct* value (dictionary-encode, convert each distinct value once in
Python, take): export columns that need rewriting (dates, categories, codes, capitals) have few
distinct values, and the conversions stay exact and readable (``Decimal``, not float). Every
converter first checks, in one vectorised pass, whether the column is already in the contract's
text and returns it untouched if so: a file in the contract's own layout is renamed, not copied
(docs/adr/0080).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from functions.ingest.profiles import ColumnPlan, KeywordTable, Profile, load_profile, norm_header, norm_value
from schemas.datasets import DATASETS, FieldSpec

_WAN = Decimal(10000)
ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
NUMBER = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_NUM = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_DATE_SEP = re.compile(
    r"^(\d{4})\s*[年/.\-]\s*(\d{1,2})\s*[月/.\-]\s*(\d{1,2})\s*日?"
    r"(?:[ T]+\d{1,2}[:：]\d{1,2}(?:[:：]\d{1,2}(?:\.\d+)?)?)?$"
)
_DATE_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:[ T]?\d{6})?$")
_CAPITAL = re.compile(
    r"^([+-]?[\d,，]*\.?\d+)\s*(万|亿)?\s*(元)?\s*(人民币|元人民币|美元|港元|港币|欧元|日元|英镑)?\s*(元)?$"
)


@dataclass
class Normalised:
    table: pa.Table  # contract-named string columns, then extras (``__extra__<i>``)
    out_of_scope: pa.Array  # bool, no nulls: rows outside the platform's scope (natural persons)
    out_of_scope_reason: str | None  # the reason code of those rows
    original_names: dict[str, str] = field(default_factory=dict)  # table column → uploaded header

    @property
    def rows_out_of_scope(self) -> int:
        return int(pc.sum(self.out_of_scope).as_py() or 0) if len(self.out_of_scope) else 0


def _false(n: int) -> pa.Array:
    return pa.array(np.zeros(n, dtype=bool))


def _text(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        a = arr.chunk(0) if arr.num_chunks == 1 else arr.combine_chunks()  # one chunk: no copy
    else:
        a = arr
    return a if a.type == pa.string() else pc.cast(a, pa.string())


def map_distinct(values: pa.Array, fn: Callable[[str], str | None]) -> pa.Array:
    """``fn`` applied once per distinct non-null value (nulls stay null)."""
    if values.null_count == len(values):
        return values
    enc = pc.dictionary_encode(values)
    new = pa.array([None if v is None else fn(v) for v in enc.dictionary.to_pylist()], pa.string())
    return pc.take(new, enc.indices)


# -- value converters (str → contract text; None = empty; unconvertible values pass as written) --


def iso_date(text: str, placeholders: frozenset[str]) -> str | None:
    t = norm_value(text)
    if t in placeholders:
        return None
    m = _DATE_SEP.match(t) or _DATE_COMPACT.match(t)
    if not m:
        return text
    out = f"{m.group(1)}-{int(m.group(2)):02d}-{int(m.group(3)):02d}"
    return None if out in placeholders else out


def to_decimal(text: str) -> Decimal | None:
    t = norm_value(text).replace(",", "").replace("元", "").replace("人民币", "").strip()
    if not _NUM.match(t):
        return None
    try:
        return Decimal(t)
    except InvalidOperation:
        return None


def dec_text(d: Decimal) -> str:
    """Plain decimal text without exponent or trailing zeros (34723.6500 → 34723.65)."""
    s = format(d, "f")
    return s.rstrip("0").rstrip(".") if "." in s else s


def amount_yuan(text: str, unit: str | None) -> str | None:
    d = to_decimal(text)
    if d is None:
        return text
    return dec_text(d * _WAN if unit == "wan" else d)


def capital_wan(text: str, unit: str | None) -> str | None:
    """Registered capital in 万元: ``800万人民币``, ``1,000万元人民币``, ``5000000元`` (header unit)."""
    t = norm_value(text).replace(" ", "")
    m = _CAPITAL.match(t)
    if not m:
        return text
    currency = m.group(4) or ""
    if currency and currency not in ("人民币", "元人民币"):
        return text  # foreign currency: no exchange rate here; validation rejects it as bad_number
    num = Decimal(m.group(1).replace(",", "").replace("，", ""))
    if m.group(2) == "亿":
        num *= _WAN
    elif m.group(2) != "万" and (m.group(3) or m.group(5) or unit == "yuan"):
        num /= _WAN
    return dec_text(num)


def keyword_value(text: str, table: KeywordTable | None) -> str | None:
    if table is None:
        return None
    for kw, v in table.rules:
        if kw in text:
            return v
    return table.default


def vocab_value(
    text: str, vocab: dict[str, str], table: KeywordTable | None, allowed: tuple[str, ...]
) -> str:
    t = norm_value(text)
    if t in allowed:
        return t
    hit = vocab.get(t) or keyword_value(t, table)
    return hit if hit is not None else text


# -- fast "already contract text" checks (one vectorised pass; True = leave the column alone) --


def _offsets(arr: pa.Array) -> np.ndarray:
    return np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1]


def _all_iso_shaped(arr: pa.Array) -> bool:
    """Every non-null value is 10 bytes of digits and '-' (validation checks the rest)."""
    if arr.null_count == len(arr):
        return True
    lens = np.diff(_offsets(arr))
    if arr.null_count:
        lens = lens[np.asarray(pc.is_valid(arr))]
    if not (lens == 10).all():
        return False
    off = _offsets(arr)
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[off[0] : off[-1]]
    return bool((((data >= 0x30) & (data <= 0x39)) | (data == 0x2D)).all())


def _all_of_length(arr: pa.Array, n: int) -> bool:
    lens = np.diff(_offsets(arr))
    if arr.null_count:
        lens = lens[np.asarray(pc.is_valid(arr))]
    return bool((lens == n).all())


def _all_in(arr: pa.Array, allowed: tuple[str, ...]) -> bool:
    return arr.null_count == len(arr) or bool(
        pc.all(pc.is_in(arr, value_set=pa.array(allowed), skip_nulls=True), skip_nulls=True).as_py()
    )


def _has_any(arr: pa.Array, values: tuple[str, ...]) -> bool:
    return bool(values) and bool(pc.any(pc.is_in(arr, value_set=pa.array(values))).as_py())


# -- per column ------------------------------------------------------------------------------


class _Ctx:
    def __init__(self, plan: ColumnPlan, profile: Profile) -> None:
        self.plan, self.profile = plan, profile
        self.spec = DATASETS[plan.dataset]
        self.dp = profile.dataset(plan.dataset)
        self.placeholders = frozenset(norm_value(p) for p in profile.placeholders)
        self.date_placeholders = self.placeholders | frozenset(profile.date_placeholders)


def _convert(ctx: _Ctx, f: FieldSpec, values: pa.Array, unit: str | None) -> pa.Array:
    """The column in contract text. Only values that are not already contract text are rewritten
    (a mask, then ``replace_with_mask``), so a few bad values in a clean 1M-row column cost a
    few conversions, not a million."""
    ph = ctx.placeholders
    if f.type == "date":
        if _all_iso_shaped(values) and not _has_any(values, ctx.profile.date_placeholders):
            return values
        dph = ctx.date_placeholders
        bad = pc.invert(pc.match_substring_regex(values, ISO_DATE))
        bad = pc.or_(bad, pc.is_in(values, value_set=pa.array(ctx.profile.date_placeholders)))
        return _patch(values, bad, lambda v: iso_date(v, dph))
    if f.enum is not None:
        if _all_in(values, f.enum):
            return values
        vname = ctx.dp.vocabulary.get(f.name)
        vocab = ctx.profile.vocabulary(vname) if vname else {}
        table = ctx.profile.keywords.get(vname) if vname else None
        allowed = f.enum
        bad = pc.invert(pc.is_in(values, value_set=pa.array(allowed)))
        return _patch(
            values, bad, lambda v: None if norm_value(v) in ph else vocab_value(v, vocab, table, allowed)
        )
    if f.kind == "region_code":
        if _all_of_length(values, 6):
            return values
        bad = pc.not_equal(pc.utf8_length(values), 6)
        return _patch(
            values, bad, lambda v: v[:6] if len(v) in (9, 12) and v.isdigit() else (None if v in ph else v)
        )
    if f.kind == "industry_code":
        digit_first = pc.match_substring_regex(values, r"^[0-9]")
        if not bool(pc.any(digit_first).as_py()):
            return values
        return _patch(values, digit_first, lambda v: _industry(v, ctx.profile))
    if f.type == "float":
        scale = (f.name != "registered_capital" and unit == "wan") or (
            f.name == "registered_capital" and unit == "yuan"
        )
        if not scale and _castable_float(values):
            return values
        if f.name == "registered_capital":
            fn: Callable[[str], str | None] = lambda v: None if v in ph else capital_wan(v, unit)  # noqa: E731
        else:
            fn = lambda v: None if v in ph else amount_yuan(v, unit)  # noqa: E731
        bad = pc.is_valid(values) if scale else pc.invert(pc.match_substring_regex(values, NUMBER))
        return _patch(values, bad, fn)
    return values


def _patch(values: pa.Array, bad: pa.Array, fn: Callable[[str], str | None]) -> pa.Array:
    """``values`` with the ``bad`` ones replaced by ``fn`` of them (once per distinct value)."""
    bad = pc.fill_null(bad, False)
    if isinstance(bad, pa.ChunkedArray):
        bad = bad.combine_chunks()
    if not pc.any(bad).as_py():
        return values
    fixed = map_distinct(values.filter(bad), fn)
    return pc.replace_with_mask(values, bad, fixed)


def _castable_float(values: pa.Array) -> bool:
    try:
        pc.cast(values, pa.float64())
        return True
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False


def _industry(v: str, profile: Profile) -> str | None:
    t = norm_value(v).upper()
    if t.isdigit() and len(t) in (2, 3, 4):
        letter = profile.industry_sections.get(int(t[:2]))
        return f"{letter}{t}" if letter else v
    return v


# -- derivations -----------------------------------------------------------------------------


def _split_kinds(text: str, ctx: _Ctx) -> list[str]:
    seps = "".join(re.escape(s) for s in ctx.profile.separators) or ";"
    out = []
    vocab = ctx.profile.vocabulary("penalty_kind")
    allowed = ctx.spec.column("kind").enum or ()
    for part in re.split(f"[{seps}]", norm_value(text)):
        p = part.strip()
        if not p or p in ctx.placeholders:
            continue
        hit = (
            p if p in allowed else vocab.get(p) or keyword_value(p, ctx.profile.keywords.get("penalty_kind"))
        )
        out.append(hit if hit is not None else p)
    return out


def _kinds(cells: list[str | None], license_text: str | None, ctx: _Ctx) -> tuple[str | None, str | None]:
    """(most severe kind, all kinds ';'-joined in rising severity) of one decision's cells."""
    order = ctx.profile.severity.get("penalty_kind", ())
    found: list[str] = []
    for c in cells:
        if c:
            found.extend(k for k in _split_kinds(c, ctx) if k not in found)
    if not found:
        return None, None
    if "revoke_license" in found and license_text and "营业执照" in license_text:
        found[found.index("revoke_license")] = "revoke_business_license"
    unknown = [k for k in found if k not in order]
    if unknown:
        return unknown[0], ";".join(found)  # left as written: validation rejects it as bad_enum
    ranked = sorted(dict.fromkeys(found), key=order.index)
    return ranked[-1], ";".join(ranked)


def _digest_ids(uscc: pa.Array, date: pa.Array, reason: pa.Array) -> pa.Array:
    """A stable record id for list rows without one: the same listing exported again (any date
    layout, full- or half-width reason text) gets the same id, so the duplicate check holds."""
    out: list[str | None] = []
    for u, d, r in zip(uscc.to_pylist(), date.to_pylist(), reason.to_pylist(), strict=True):
        if u is None or d is None:
            out.append(None)
        else:
            text = f"{u}|{d}|{norm_value(r or '')}"
            out.append(hashlib.sha256(text.encode()).hexdigest()[:20])
    return pa.array(out, pa.string())


def _entity_type_from(type_text: pa.Array | None, uscc: pa.Array | None, ctx: _Ctx, n: int) -> pa.Array:
    vocab = ctx.profile.vocabulary("entity_type")
    table = ctx.profile.keywords.get("entity_type")
    allowed = ctx.spec.column("entity_type").enum or ()
    derived: pa.Array = pa.nulls(n, pa.string())
    if type_text is not None:
        derived = map_distinct(type_text, lambda v: _known(vocab_value(v, vocab, table, allowed), allowed))
    if uscc is not None:
        pos = pc.utf8_slice_codeunits(uscc, 0, 2)
        by_code = pc.if_else(
            pc.equal(pos, "91"),
            "enterprise",
            pc.if_else(
                pc.equal(pos, "92"), "individual", pc.if_else(pc.equal(pos, "93"), "cooperative", None)
            ),
        )
        derived = pc.coalesce(derived, by_code)
    return derived


def _known(v: str, allowed: tuple[str, ...]) -> str | None:
    return v if v in allowed else None


def _penalty_derivations(ctx: _Ctx, cols: dict[str, pa.Array], roles: dict[str, pa.Array], n: int) -> None:
    enum = ctx.spec.column("kind").enum or ()
    rewrite = any(r in roles for r in ("kind2", "license", "content"))
    verbatim = "kind" in ctx.plan.targets and ctx.plan.targets["kind"].matched == "contract"
    if rewrite or ("kind" in cols and not verbatim and not _all_in(cols["kind"], enum)):
        # One key per distinct (处罚类别, 处罚类别2, names a 营业执照) combination, converted once.
        empty = pa.scalar("", pa.string())
        lic = pc.binary_join_element_wise(
            pc.fill_null(roles.get("license", pa.nulls(n, pa.string())), empty),
            pc.fill_null(roles.get("content", pa.nulls(n, pa.string())), empty),
            " ",
        )
        flag = pc.if_else(pc.match_substring(lic, "营业执照"), "1", "0")
        key = pc.binary_join_element_wise(
            pc.fill_null(cols.get("kind", pa.nulls(n, pa.string())), empty),
            pc.fill_null(roles.get("kind2", pa.nulls(n, pa.string())), empty),
            flag,
            "\x1f",
        )

        def convert(k: str) -> tuple[str | None, str | None]:
            a, b, f = k.split("\x1f")
            return _kinds([a or None, b or None], "营业执照" if f == "1" else None, ctx)

        enc = pc.dictionary_encode(key)
        pairs = [convert(k) for k in enc.dictionary.to_pylist()]
        cols["kind"] = pc.take(pa.array([p[0] for p in pairs], pa.string()), enc.indices)
        cols["kinds"] = pc.take(pa.array([p[1] for p in pairs], pa.string()), enc.indices)
    if "domain" not in cols and "violation_type" in roles:
        table = ctx.profile.keywords.get("domain")
        cols["domain"] = map_distinct(roles["violation_type"], lambda v: keyword_value(norm_value(v), table))
        cols["domain"] = pc.fill_null(cols["domain"], (table.default if table else None) or "other")
    if "amount" not in cols and ("fine" in roles or "confiscation" in roles):
        cols["amount"] = _amount_from_parts(ctx, roles, n)


def _amount_from_parts(ctx: _Ctx, roles: dict[str, pa.Array], n: int) -> pa.Array:
    """罚款金额 + 没收违法所得、没收非法财物的金额 in yuan, each by its header's unit, exactly.

    Each part is converted per distinct value; only rows with both parts are summed in Python."""
    ph = ctx.placeholders
    parts = []
    for role in ("fine", "confiscation"):
        if role in roles:
            unit = ctx.plan.targets[role].unit
            parts.append(map_distinct(roles[role], _yuan_of(ph, unit)))
    if len(parts) == 1:
        return parts[0]
    fine, conf = parts
    amount = pc.coalesce(fine, conf)
    both = pc.and_(pc.is_valid(fine), pc.is_valid(conf))
    if not pc.any(both).as_py():
        return amount
    summed = [
        _sum_text(a, b)
        for a, b in zip(fine.filter(both).to_pylist(), conf.filter(both).to_pylist(), strict=True)
    ]
    return pc.replace_with_mask(amount, both, pa.array(summed, pa.string()))


def _yuan_of(ph: frozenset[str], unit: str | None) -> Callable[[str], str | None]:
    return lambda v: None if norm_value(v) in ph else amount_yuan(v, unit)


def _sum_text(a: str, b: str) -> str:
    """Two yuan amounts as text → their exact sum; an unparseable part is kept (bad_number)."""
    da, db = to_decimal(a), to_decimal(b)
    if da is None:
        return a
    if db is None:
        return b
    return dec_text(da + db)


def normalise(batch: pa.Table, plan: ColumnPlan, profile: Profile | None = None) -> Normalised:
    """Apply ``plan`` to ``batch`` (raw text columns named by the uploaded headers, trimmed,
    empty → null). A file in the contract's own layout comes back renamed, not copied."""
    profile = profile or load_profile(name=plan.profile.split("/")[0], province=_province_of(plan.profile))
    ctx = _Ctx(plan, profile)
    n = batch.num_rows
    by_header = {c.header: c for c in plan.columns}
    dropped = set(plan.dropped_personal)
    cols: dict[str, pa.Array] = {}
    roles: dict[str, pa.Array] = {}
    slots: list[tuple[str, pa.Array | None]] = []  # header order; None = a contract column, see cols
    originals: dict[str, str] = {}
    changed = False
    raw: dict[str, pa.Array] = {}  # contract column → its values as written
    person_ids: list[pa.Array] = []  # presence only: does the row name a person by identity number?
    oos = profile.out_of_scope
    for i, header in enumerate(batch.column_names):
        if header in dropped:
            if oos is not None and norm_header(header) in oos.person_id_keys:
                pid = _text(batch.column(i))
                person_ids.append(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(pid)), 0))
            changed = True
            continue
        values = _text(batch.column(i))
        pcol = by_header.get(header)
        if pcol is None or pcol.role:
            if pcol is not None:
                roles[pcol.target] = values
            name = f"__extra__{i}"
            slots.append((name, values))
            originals[name] = header
            continue
        f = ctx.spec.column(pcol.target)
        raw[f.name] = values
        # English contract names are the machine layout: taken as written (validation judges).
        cols[f.name] = values if pcol.matched == "contract" else _convert(ctx, f, values, pcol.unit)
        changed = changed or cols[f.name] is not values
        originals[f.name] = header
        slots.append((f.name, None))
    before = set(cols)
    if plan.dataset == "penalties":
        _penalty_derivations(ctx, cols, roles, n)
    if plan.dataset == "entities" and "entity_type" in plan.derived:
        cols["entity_type"] = _entity_type_from(roles.get("type_text"), cols.get("uscc"), ctx, n)
    if "record_id" in plan.derived and "record_id" not in cols:
        cols["record_id"] = _digest_ids(cols["uscc"], cols["listed_on"], raw["reason"])
    for name in cols:
        if name not in before:
            slots.append((name, None))
            originals[name] = f"({name}: derived)"
            changed = True
    out_of_scope, reason = _out_of_scope(ctx, roles, person_ids, cols.get("uscc"), n)
    names = [s[0] for s in slots]
    if not changed and not roles:
        table = batch.rename_columns(names)  # zero-copy: the contract's own layout
    else:
        arrays = [cols[name] if a is None else a for name, a in slots]
        table = pa.Table.from_arrays(arrays, names=names) if names else batch
    return Normalised(table, out_of_scope, reason, originals)


def _columns(batch: pa.Table) -> list[pa.Array]:
    return [c.chunk(0) if c.num_chunks == 1 else c for c in batch.columns]


def _province_of(profile_name: str) -> str | None:
    parts = profile_name.split("/")
    return parts[1] if len(parts) > 1 else None


def _out_of_scope(
    ctx: _Ctx, roles: dict[str, pa.Array], person_ids: list[pa.Array], uscc: pa.Array | None, n: int
) -> tuple[pa.Array, str | None]:
    """Rows without a USCC that are about a natural person (by 行政相对人类别 or an identity number)."""
    oos = ctx.profile.out_of_scope
    if oos is None or (oos.role not in roles and not person_ids):
        return _false(n), None
    natural = _false(n)
    if oos.role in roles:
        natural = pc.fill_null(pc.is_in(roles[oos.role], value_set=pa.array(oos.values)), False)
    for present in person_ids:
        natural = pc.or_(natural, pc.fill_null(present, False))
    if uscc is not None:
        natural = pc.and_(natural, pc.is_null(uscc))
    if not pc.any(natural).as_py():
        return _false(n), None
    return natural.combine_chunks() if isinstance(natural, pa.ChunkedArray) else natural, oos.reason
