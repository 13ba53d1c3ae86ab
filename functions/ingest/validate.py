"""Vectorised row validation over Arrow: every check is one pass of ``pyarrow.compute`` over a
column, yielding a boolean "fails" mask per (reason code, column). Rows collect *every* failing
check; nothing stops at the first. Values arrive as trimmed text (empty → null).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from functions import uscc
from functions.ingest import personal_data, workers
from functions.ingest.fastcodes import uscc_check
from schemas.datasets import LIST_SEPARATOR, DatasetSpec, FieldSpec

TRUE_VALUES = ("true", "1", "yes", "是", "t", "y")
FALSE_VALUES = ("false", "0", "no", "否", "f", "n")
NUMBER_RE = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"
INT_RE = r"^[+-]?[0-9]{1,18}$"
ISO_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
SLASH_RE = r"^[0-9]{4}/[0-9]{2}/[0-9]{2}$"
COMPACT_RE = r"^[0-9]{8}$"


@dataclass(frozen=True)
class Check:
    code: str
    column: str | None
    fails: pa.Array  # bool, no nulls
    message: str


@dataclass
class Validated:
    typed: dict[str, pa.Array]  # contract column → typed array (all rows; failing values null)
    checks: list[Check]
    failed: pa.Array  # bool: the row fails at least one check

    @property
    def rows_failed(self) -> int:
        return int(pc.sum(self.failed).as_py() or 0)

    def counts(self) -> dict[str, int]:
        """Rejected rows per reason code (a row with two codes counts under both)."""
        by_code: dict[str, pa.Array] = {}
        for c in self.checks:
            by_code[c.code] = pc.or_(by_code[c.code], c.fails) if c.code in by_code else c.fails
        out = {code: int(pc.sum(m).as_py() or 0) for code, m in by_code.items()}
        return {k: v for k, v in sorted(out.items()) if v}


def _false(n: int) -> pa.Array:
    return pc.is_null(pa.nulls(n, pa.bool_()).fill_null(False))  # all False, no nulls


def _fails(mask: pa.Array | pa.ChunkedArray) -> pa.Array:
    m = mask.combine_chunks() if isinstance(mask, pa.ChunkedArray) else mask
    return pc.fill_null(m, False)


def parse_dates(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(date32 array, bad mask). ISO, ``YYYY/MM/DD`` and ``YYYYMMDD``; impossible days are bad.

    Arrow's strict ISO cast is the fast path (one pass); only a column that fails it pays for
    the variant normalisation and the per-value round trip."""
    if values.null_count == len(values):
        return pa.nulls(len(values), pa.date32()), _false(len(values))
    try:
        return pc.cast(values, pa.date32()), _false(len(values))
    except pa.ArrowInvalid:
        return _parse_dates_slow(values)


def _parse_dates_slow(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    iso = pc.fill_null(pc.match_substring_regex(values, ISO_RE), False)
    slash = pc.fill_null(pc.match_substring_regex(values, SLASH_RE), False)
    compact = pc.fill_null(pc.match_substring_regex(values, COMPACT_RE), False)
    norm = pc.if_else(slash, pc.replace_substring(values, "/", "-"), values)
    norm = pc.if_else(
        compact,
        pc.binary_join_element_wise(
            pc.utf8_slice_codeunits(values, 0, 4),
            pc.utf8_slice_codeunits(values, 4, 6),
            pc.utf8_slice_codeunits(values, 6, 8),
            "-",
        ),
        norm,
    )
    shaped = pc.or_(iso, pc.or_(slash, compact))
    norm = pc.if_else(shaped, norm, pa.scalar(None, pa.string()))
    ts = pc.strptime(norm, format="%Y-%m-%d", unit="s", error_is_null=True)
    dates = pc.cast(ts, pa.date32())
    # strptime rolls 2024-02-30 over to 03-01: a round trip exposes impossible days.
    roundtrip = pc.equal(pc.strftime(ts, format="%Y-%m-%d"), norm)
    ok = pc.fill_null(roundtrip, False)
    bad = pc.and_(pc.is_valid(values), pc.invert(ok))
    return pc.if_else(ok, dates, pa.scalar(None, pa.date32())), bad


def parse_bools(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    low = pc.utf8_lower(values)
    is_true = pc.is_in(low, value_set=pa.array(TRUE_VALUES))
    is_false = pc.is_in(low, value_set=pa.array(FALSE_VALUES))
    known = pc.or_(is_true, is_false)
    out = pc.if_else(known, is_true, pa.scalar(None, pa.bool_()))
    return out, pc.and_(pc.is_valid(values), pc.invert(known))


def parse_numbers(values: pa.Array, f: FieldSpec) -> tuple[pa.Array, pa.Array]:
    is_int = f.type == "int"
    nums = _cast_finite_floats(values) if not is_int else None
    if nums is not None:
        # Every value parsed as a finite decimal: the shape regex could not reject any of them.
        ok = pc.is_valid(values)
    else:
        shaped = pc.fill_null(pc.match_substring_regex(values, INT_RE if is_int else NUMBER_RE), False)
        safe = pc.if_else(shaped, values, pa.scalar(None, pa.string()))
        nums = pc.cast(safe, pa.int64() if is_int else pa.float64())
        # a well-shaped decimal can still overflow to inf (1e400): not a number we can store
        ok = shaped if is_int else pc.and_(shaped, pc.fill_null(pc.is_finite(nums), False))
    if f.ge is not None:
        ok = pc.and_(ok, pc.fill_null(pc.greater_equal(nums, f.ge), False))
    if f.le is not None:
        ok = pc.and_(ok, pc.fill_null(pc.less_equal(nums, f.le), False))
    bad = pc.and_(pc.is_valid(values), pc.invert(ok))
    return pc.if_else(ok, nums, pa.scalar(None, nums.type)), bad


def _cast_finite_floats(values: pa.Array) -> pa.Array | None:
    """Arrow's float parser accepts exactly the decimal grammar of ``NUMBER_RE`` plus
    ``nan``/``inf`` spellings; a strict cast with only finite results therefore proves every value
    well-shaped in one pass. Anything else (a bad value, ``inf``, an overflow) takes the regex
    path, so results are identical either way (docs/adr/0014)."""
    try:
        nums = pc.cast(values, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if nums.null_count != len(nums) and not pc.all(pc.is_finite(nums)).as_py():
        return None
    return nums


def validate(
    table: pa.Table,
    spec: DatasetSpec,
    *,
    province: str,
    today: dt.date,
    legacy_uscc: Iterable[str] = (),
    display_names: dict[str, str] | None = None,
    duplicates: pa.Array | None = None,
) -> Validated:
    """Check every row of ``table`` (text columns named by the contract) against ``spec``.

    ``duplicates`` (bool per row) replaces the in-table duplicate-key pass when the caller knows
    the keys of the whole file and ``table`` is one batch of it (``keys.KeyIndex``)."""
    n = table.num_rows
    none = _false(n)
    checks: list[Check] = []
    typed: dict[str, pa.Array] = {}
    allow = pa.array(sorted(set(legacy_uscc)), pa.string())
    today_scalar = pa.scalar(today, pa.date32())
    pii_fields: dict[str, pa.Array] = {}  # personal-data hits per contract column

    def field_checks(f: FieldSpec) -> list[Check]:
        out: list[Check] = []

        def add(code: str, column: str | None, fails: pa.Array, message: str) -> None:
            if pc.any(fails).as_py():
                out.append(Check(code, column, _fails(fails), message))

        present_in_file = f.name in table.column_names
        col = _contiguous(table.column(f.name)) if present_in_file else pa.nulls(n, pa.string())
        present = pc.is_valid(col)
        skip: pa.Array | None = None
        if f.required:
            add("missing_required", f.name, pc.invert(present), f"{f.name} is required")
        if f.type == "date":
            dates, bad = parse_dates(col)
            add("bad_date", f.name, bad, f"{f.name} is not a date (YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD)")
            if not f.future_ok:
                add(
                    "future_date",
                    f.name,
                    pc.greater(dates, today_scalar),
                    f"{f.name} is after the ingest day",
                )
            typed[f.name] = dates
        elif f.type == "bool":
            vals, bad = parse_bools(col)
            add("bad_enum", f.name, bad, f"{f.name} must be true/false/1/0/yes/no/是/否")
            typed[f.name] = vals
        elif f.type in ("float", "int"):
            vals, bad = parse_numbers(col, f)
            bounds = [f"≥{f.ge:g}" if f.ge is not None else "", f"≤{f.le:g}" if f.le is not None else ""]
            rule = " and ".join(b for b in bounds if b)
            kind = "an integer" if f.type == "int" else "a number"
            add("bad_number", f.name, bad, f"{f.name} must be {kind}" + (f" {rule}" if rule else ""))
            typed[f.name] = vals
        else:
            typed[f.name] = col
            if f.enum is not None:
                add(
                    "bad_enum",
                    f.name,
                    pc.and_(present, pc.invert(pc.is_in(col, value_set=pa.array(f.enum)))),
                    f"{f.name} must be one of {'|'.join(f.enum)}",
                )
            elif f.kind in ("enum_list", "uscc_list"):
                out.extend(_list_checks(f, col, present, allow))
            elif f.kind == "uscc":
                well_formed, check_ok = uscc_check(col)
                skip = check_ok  # valid USCCs cannot be resident IDs
                add(
                    "bad_uscc_format",
                    f.name,
                    pc.and_(present, pc.invert(well_formed)),
                    f"{f.name} is not an 18-character Unified Social Credit Code",
                )
                legacy = pc.is_in(col, value_set=allow) if len(allow) else none
                add(
                    "bad_uscc_checkdigit",
                    f.name,
                    pc.and_(well_formed, pc.invert(pc.or_(check_ok, legacy))),
                    f"{f.name}: the check character does not match (GB 32100-2015)",
                )
            elif f.pattern is not None:
                shaped = pc.fill_null(pc.match_substring_regex(col, f.pattern), False)
                add(
                    "bad_format",
                    f.name,
                    pc.and_(present, pc.invert(shaped)),
                    f"{f.name} does not match {f.pattern}",
                )
                if f.kind == "region_code":
                    add(
                        "region_outside_province",
                        f.name,
                        pc.and_(shaped, pc.invert(pc.starts_with(col, province))),
                        f"{f.name} is not in province {province}",
                    )
        if present_in_file:
            pii_fields[f.name] = personal_data.find(col, skip=skip)
        return out

    # pyarrow.compute and numpy release the GIL: one pool keeps both cores busy. The costly
    # hash pass (duplicate keys) starts first; checks are assembled in a fixed order.
    names = table.column_names  # every column, the ignored extras too
    field_names = {f.name for f in spec.fields}
    pool = workers.pool()
    dup_future = pool.submit(duplicate_mask, key_columns(table, spec)) if duplicates is None else None
    field_futures = [pool.submit(field_checks, f) for f in spec.fields]
    pii_futures = {
        name: pool.submit(personal_data.find, table.column(name)) for name in names if name not in field_names
    }
    for fut in field_futures:
        checks.extend(fut.result())
    dup = _fails(duplicates) if dup_future is None else dup_future.result()
    pii_extra = {name: fut.result() for name, fut in pii_futures.items()}

    def add(code: str, column: str | None, fails: pa.Array, message: str) -> None:
        if pc.any(fails).as_py():
            checks.append(Check(code, column, _fails(fails), message))

    if "entity_type" in typed and "uscc" in typed:
        code = typed["uscc"]
        well_formed = pc.fill_null(pc.match_substring_regex(code, uscc.FORMAT_PATTERN), False)
        category = pc.utf8_slice_codeunits(code, 1, 2)
        etype = typed["entity_type"]
        wanted = pc.case_when(
            pc.make_struct(*(pc.equal(etype, t) for t in uscc.CATEGORY_OF_ENTITY_TYPE)),
            *uscc.CATEGORY_OF_ENTITY_TYPE.values(),
        )
        dept9 = pc.equal(pc.utf8_slice_codeunits(code, 0, 1), "9")
        mismatch = pc.and_(pc.and_(well_formed, dept9), pc.not_equal(category, wanted))
        add(
            "entity_type_mismatch",
            "entity_type",
            mismatch,
            "entity_type does not agree with USCC position 2 (1 enterprise, 2 individual, 3 cooperative)",
        )

    add("duplicate_key", ",".join(spec.key), dup, f"another row has the same {'+'.join(spec.key)}")

    shown = dict(display_names or {})
    for name in names:
        hit = pii_extra[name] if name in pii_extra else pii_fields[name]
        add(
            "personal_data",
            shown.get(name, name),
            hit,
            "a value shaped like a resident ID number; personal data must not be uploaded",
        )

    failed = none
    for c in checks:
        failed = pc.or_(failed, c.fails)
    return Validated(typed, checks, failed)


def _list_checks(f: FieldSpec, col: pa.Array, present: pa.Array, allow: pa.Array) -> list[Check]:
    """A ``;``-separated list column: every item from the vocabulary (``enum_list``) or a valid
    USCC (``uscc_list``); an empty item (``a;;b``) is malformed. A row fails once per code."""
    out: list[Check] = []
    if not pc.any(present).as_py():
        return out
    items = pc.split_pattern(pc.fill_null(col, ""), LIST_SEPARATOR)
    flat = pc.utf8_trim_whitespace(pc.list_flatten(items))
    parent = pc.list_parent_indices(items)
    n = len(col)

    def per_row(bad_item: pa.Array) -> pa.Array:
        rows = np.zeros(n, dtype=bool)
        rows[pc.filter(parent, bad_item).to_numpy(zero_copy_only=False)] = True
        return pc.and_(present, pa.array(rows))

    def add(code: str, bad_item: pa.Array, message: str) -> None:
        fails = per_row(bad_item)
        if pc.any(fails).as_py():
            out.append(Check(code, f.name, _fails(fails), message))

    if f.kind == "enum_list":
        vocab = pa.array(list(f.items or ()), pa.string())
        add(
            "bad_enum",
            pc.invert(pc.is_in(flat, value_set=vocab)),
            f"{f.name} must be {LIST_SEPARATOR}-separated values of {'|'.join(f.items or ())}",
        )
    else:
        well_formed, check_ok = uscc_check(flat)
        add(
            "bad_uscc_format",
            pc.invert(well_formed),
            f"{f.name} must be {LIST_SEPARATOR}-separated 18-character Unified Social Credit Codes",
        )
        legacy = pc.is_in(flat, value_set=allow) if len(allow) else pa.array(np.zeros(len(flat), dtype=bool))
        add(
            "bad_uscc_checkdigit",
            pc.and_(well_formed, pc.invert(pc.or_(check_ok, legacy))),
            f"{f.name}: a check character does not match (GB 32100-2015)",
        )
    return out


def key_columns(table: pa.Table, spec: DatasetSpec) -> list[pa.Array]:
    """The dataset key's columns of ``table`` (all null when the file lacks one)."""
    n = table.num_rows
    names = table.column_names
    return [_contiguous(table.column(k)) if k in names else pa.nulls(n, pa.string()) for k in spec.key]


def _contiguous(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(col, pa.Array):
        return col
    return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()


def duplicate_mask(keys: list[pa.Array]) -> pa.Array:
    """Rows whose key (no component null) occurs more than once: all of them fail.

    Sorting brings equal keys together and one comparison of neighbours finds them; Arrow's
    string sort costs about half of a hash pass (dictionary encoding or group-by) over the same
    column (docs/adr/0014)."""
    n = len(keys[0]) if keys else 0
    if n < 2:
        return _false(n)
    if len(keys) == 1:
        order = pc.sort_indices(keys[0])
    else:
        names = [f"k{i}" for i in range(len(keys))]
        order = pc.sort_indices(
            pa.Table.from_arrays(keys, names=names), sort_keys=[(name, "ascending") for name in names]
        )
    same: pa.Array | None = None  # same[i]: sorted rows i and i + 1 share the key
    for key in keys:
        s = pc.take(key, order)
        eq = pc.fill_null(pc.equal(s.slice(1), s.slice(0, n - 1)), False)  # a null never matches
        same = eq if same is None else pc.and_(same, eq)
    assert same is not None
    pairs = np.asarray(same.to_numpy(zero_copy_only=False), dtype=bool)
    if not pairs.any():
        return _false(n)
    in_run = np.zeros(n, dtype=bool)
    in_run[1:] |= pairs
    in_run[:-1] |= pairs
    mask = np.zeros(n, dtype=bool)
    mask[order.to_numpy()] = in_run
    return pa.array(mask)
