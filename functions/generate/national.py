"""``--layout national``: rewrite generated files the way Chinese government systems export them.

Registration exports, 双公示 administrative penalties (2021 layout, amounts in 万元) and the
publicity system's abnormal and serious-dishonesty lists, with the values as those systems
write them: Chinese status texts and penalty categories, statutory reasons as sentences, dates
as ``2024年3月5日``, capital as ``800万人民币``, 9-digit region codes, 4-digit industry codes.
The Chinese texts come from the national mapping profile (the first written form of each
contract value), so whatever the generator writes, ingest maps back (docs/adr/0082).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pyarrow as pa

from functions.generate.formats import csv_bytes, read_strings
from functions.ingest.normalise import dec_text
from functions.ingest.profiles import Profile, load_profile
from schemas.datasets import DATASETS

LAYOUTS = ("contract", "national")
NATIONAL_DATASETS = ("entities", "penalties", "abnormal_list", "serious_dishonesty_list")

# 违法行为类型 per regulatory field: each maps back through the profile's domain keywords.
VIOLATION_TYPE = {
    "food": "违反食品安全法律法规",
    "drug": "违反药品管理法律法规",
    "special_equipment": "违反特种设备安全法律法规",
    "product_quality": "违反产品质量法律法规",
    "price": "违反价格法律法规",
    "competition": "违反反不正当竞争法律法规",
    "consumer": "侵害消费者权益",
    "metrology": "违反计量法律法规",
    "standards": "违反标准化法律法规",
    "certification": "违反认证认可法律法规",
    "advertising": "违反广告法律法规",
    "ip": "违反商标法律法规",
    "registration": "违反市场主体登记管理法律法规",
    "other": "其他违法行为",
}
TYPE_TEXT = {"enterprise": "有限责任公司", "individual": "个体工商户", "cooperative": "农民专业合作社"}
PARTY_CATEGORY = {"1": "法人及非法人组织", "2": "个体工商户", "3": "法人及非法人组织"}
NATURAL_PERSON = "自然人"  # 行政相对人类别 of a penalty on a person: out of the platform's scope
NATURAL_PERSON_EVERY = 50  # one natural-person decision per this many penalties (2%)


def written_forms(profile: Profile, vocabulary: str) -> dict[str, str]:
    """Contract value → its first written form in the profile's vocabulary."""
    out: dict[str, str] = {}
    for text, value in profile.vocabularies.get(vocabulary, {}).items():
        out.setdefault(value, text)
    return out


def chinese_date(v: str | None) -> str | None:
    """``2024-03-05`` → ``2024年3月5日``; anything else (a fault) as it is."""
    if v is None or len(v) != 10 or v[4] != "-" or v[7] != "-" or not (v[:4] + v[5:7] + v[8:]).isdigit():
        return v
    return f"{v[:4]}年{int(v[5:7])}月{int(v[8:])}日"


def _wan(v: str | None, suffix: str = "") -> str | None:
    if v is None:
        return None
    try:
        return dec_text(Decimal(v) / Decimal(10000)) + suffix
    except InvalidOperation:
        return v


def _capital(v: str | None) -> str | None:
    if v is None:
        return None
    try:
        return dec_text(Decimal(v)) + "万人民币"
    except InvalidOperation:
        return v


def _map(col: pa.ChunkedArray, fn: Callable[[str | None], str | None]) -> pa.Array:
    return pa.array([fn(v) for v in col.to_pylist()], pa.string())


def _lookup(table: dict[str, str]) -> Callable[[str | None], str | None]:
    return lambda v: None if v is None else table.get(v, v)


def natural_persons(t: pa.Table) -> pa.Table:
    """Penalty decisions on natural persons (no USCC), one per ``NATURAL_PERSON_EVERY`` rows:
    real 双公示 exports mix them in, and ingest counts them apart (out of scope, not rejected).
    Each copies a generated row (deterministic) with its own decision number."""
    picked = t.take(pa.array(range(0, t.num_rows, NATURAL_PERSON_EVERY), pa.int64()))
    decision = [None if v is None else f"{v}-个人" for v in picked["decision_no"].to_pylist()]
    return picked.set_column(
        picked.schema.get_field_index("decision_no"), "decision_no", pa.array(decision, pa.string())
    ).set_column(picked.schema.get_field_index("uscc"), "uscc", pa.nulls(picked.num_rows, pa.string()))


def national_table(t: pa.Table, dataset: str, profile: Profile) -> pa.Table:
    """``t`` (contract columns as text) in the national export layout of ``dataset``."""
    cols: dict[str, pa.Array | pa.ChunkedArray] = {}
    if dataset == "entities":
        status = written_forms(profile, "entity_status")
        cols["统一社会信用代码"] = t["uscc"]
        cols["企业名称"] = t["name"]
        cols["类型"] = _map(t["entity_type"], _lookup(TYPE_TEXT))
        cols["注册资本"] = _map(t["registered_capital"], _capital)
        cols["成立日期"] = _map(t["established_on"], chinese_date)
        cols["核准日期"] = _map(t["status_changed_on"], chinese_date)
        cols["登记状态"] = _map(t["status"], _lookup(status))
        cols["住所"] = t["address"]
        cols["住所所在行政区划"] = _map(t["region_code"], lambda v: v + "001" if v and len(v) == 6 else v)
        cols["行业代码"] = _map(
            t["industry_code"], lambda v: v[1:] if v and len(v) > 1 and v[0].isalpha() else v
        )
        cols["legal_rep_id"] = t["legal_rep_id"]
        cols["is_new_economy"] = t["is_new_economy"]
    elif dataset == "penalties":
        kinds = written_forms(profile, "penalty_kind")
        kinds["revoke_business_license"] = "吊销许可证件"  # the 2021 category; the licence is named apart
        cols["行政相对人类别"] = _map(
            t["uscc"], lambda v: PARTY_CATEGORY.get(v[1:2], "法人及非法人组织") if v else None
        )
        cols["行政相对人代码_1(统一社会信用代码)"] = t["uscc"]
        cols["行政处罚决定书文号"] = t["decision_no"]
        cols["违法行为类型"] = _map(t["domain"], _lookup(VIOLATION_TYPE))
        cols["处罚类别"] = _map(t["kind"], _lookup(kinds))
        cols["罚款金额（万元）"] = _map(t["amount"], _wan)
        cols["暂扣或吊销证照名称及编号"] = _map(
            t["kind"], lambda v: "营业执照" if v == "revoke_business_license" else None
        )
        cols["处罚决定日期"] = _map(t["decided_on"], chinese_date)
        cols["处罚机关"] = t["authority"]
        cols["信用修复日期"] = _map(t["repaired_on"], chinese_date)
        cols["是否撤销"] = _map(t["withdrawn"], _lookup({"true": "是", "false": "否"}))
    elif dataset == "abnormal_list":
        reasons = written_forms(profile, "abnormal_reason")
        reasons["other"] = "其他"
        cols["记录编号"] = t["record_id"]
        cols["统一社会信用代码"] = t["uscc"]
        cols["列入经营异常名录原因"] = _map(t["reason"], _lookup(reasons))
        cols["列入日期"] = _map(t["listed_on"], chinese_date)
        cols["移出日期"] = _map(t["removed_on"], chinese_date)
    elif dataset == "serious_dishonesty_list":
        cols["统一社会信用代码"] = t["uscc"]
        cols["列入严重违法失信企业名单（黑名单）原因"] = t["reason"]
        cols["列入决定书文号"] = t["record_id"]
        cols["列入日期"] = _map(t["listed_on"], chinese_date)
        cols["移出日期"] = _map(t["removed_on"], chinese_date)
    else:
        return t
    return pa.table(cols)


def rewrite_national(root: Path, rel: str, dataset: str, profile: Profile | None = None) -> int:
    """Rewrite the generated CSV ``root/rel`` in its national layout (GB18030, as such exports
    are); returns the rows added out of scope (natural persons, in penalties)."""
    if dataset not in NATIONAL_DATASETS:
        return 0
    src = root / rel
    t = read_strings(src, list(DATASETS[dataset].columns))
    profile = profile or load_profile()
    out = national_table(t, dataset, profile)
    added = 0
    if dataset == "penalties" and t.num_rows:
        persons = national_table(natural_persons(t), dataset, profile)
        category = pa.array([NATURAL_PERSON] * persons.num_rows, pa.string())
        persons = persons.set_column(0, "行政相对人类别", category)
        out, added = pa.concat_tables([out, persons]), persons.num_rows
    src.write_bytes(csv_bytes(out).decode("utf-8").encode("gb18030"))
    return added
