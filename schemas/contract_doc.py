"""Generate ``docs/upload-contract.md`` (English and Chinese) and one JSON Schema per dataset
from the contract models and the mapping profiles (``schemas/profiles/``), and
``docs/results-tables.md`` (``schemas/tables_doc.py``):
``python -m schemas.contract_doc`` (``--check`` fails when stale).

The profiles are read here as plain YAML (they are data beside the contract), so the contract
package does not import the ingest code that applies them."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from schemas.datasets import DATASETS, DatasetSpec, FieldSpec
from schemas.ingest import MAX_UPLOAD_BYTES, MAX_UPLOAD_ROWS

ROOT = Path(__file__).resolve().parent.parent
DOC_PATH = ROOT / "docs" / "upload-contract.md"
JSON_DIR = ROOT / "schemas" / "json"
PROFILE_DIR = ROOT / "schemas" / "profiles"
OUT_OF_SCOPE_REASONS: dict[str, tuple[str, str]] = {
    "natural_person": (
        "the row is about a natural person (行政相对人类别 自然人, or an identity number and no USCC):"
        " outside the platform's scope, counted apart, never a reject",
        "行政相对人为自然人（类别为自然人，或无统一社会信用代码而有身份证号）：不在本平台范围，单独计数，不计入拒收",
    ),
}

ROW_REASONS: dict[str, tuple[str, str]] = {
    "missing_required": ("a required value is empty", "必填项为空"),
    "bad_uscc_format": (
        "not an 18-character USCC (alphabet without I O S V Z)",
        "不是18位统一社会信用代码格式",
    ),
    "bad_uscc_checkdigit": (
        "USCC check character wrong (GB 32100-2015); known legacy codes are allow-listed",
        "统一社会信用代码校验位错误（已登记的历史代码可列入白名单）",
    ),
    "bad_date": (
        "not a date in YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD, or an impossible day",
        "日期格式或日期本身无效",
    ),
    "future_date": ("a date after the ingest day (China time)", "日期晚于入库当日（北京时间）"),
    "bad_enum": (
        "not one of the allowed values (also: an unreadable yes/no)",
        "不在允许的取值范围内（含是/否字段）",
    ),
    "bad_number": ("not a number, or outside its bounds", "不是数字或超出取值范围"),
    "bad_format": (
        "does not match the column's pattern (region code, industry code)",
        "不符合该列格式（区划代码、行业代码）",
    ),
    "region_outside_province": ("region code not in the uploading province", "行政区划代码不属于上传省份"),
    "entity_type_mismatch": (
        "entity_type disagrees with USCC position 2 (when position 1 is 9)",
        "主体类型与统一社会信用代码第2位不一致（第1位为9时）",
    ),
    "duplicate_key": (
        "another row in the same file has the same key: all such rows are rejected",
        "同一文件中主键重复：重复行全部拒收",
    ),
    "personal_data": (
        "a value shaped like an 18-digit resident ID number (any column); masked in all outputs",
        "任一列出现18位居民身份证号：整行拒收，输出中一律打码",
    ),
}
FILE_REASONS: dict[str, tuple[str, str]] = {
    "bad_path": ("not at incoming/<province>/<dataset>/<file>", "路径不是 incoming/<省>/<数据集>/<文件>"),
    "bad_province": ("not a GB/T 2260 province code", "不是GB/T 2260省级代码"),
    "unknown_dataset": ("unknown dataset name", "未知数据集"),
    "unsupported_format": (
        "extension not .csv .csv.gz .jsonl .jsonl.gz .parquet .xlsx .xls",
        "不支持的文件类型",
    ),
    "bad_encoding": (
        "neither UTF-8 (with or without BOM) nor GB18030/GBK",
        "编码既不是UTF-8也不是GB18030/GBK",
    ),
    "bad_format": ("content is not the claimed format", "内容与文件类型不符"),
    "empty_file": ("empty file or no header row", "空文件或缺少表头"),
    "missing_column": ("a required column is missing", "缺少必填列"),
    "duplicate_column": ("two headers name the same column", "两个表头对应同一列"),
    "too_many_rejects": (
        "more than the allowed share of rows (default 5%) fail",
        "不合格行占比超过上限（默认5%）",
    ),
    "too_large": (
        f"more than {MAX_UPLOAD_BYTES / 1e9:g} GB as uploaded, or more than {MAX_UPLOAD_ROWS:,} rows",
        f"上传文件超过 {MAX_UPLOAD_BYTES / 1e9:g} GB，或超过 {MAX_UPLOAD_ROWS:,} 行",
    ),
}
TYPE_ZH = {"string": "文本", "date": "日期", "bool": "是/否", "float": "数字", "int": "整数"}


def _rule(f: FieldSpec) -> str:
    parts = []
    if f.enum:
        parts.append(" \\| ".join(f"`{v}`" for v in f.enum))
    if f.items:
        parts.append(
            "`;`-separated, each one of 以分号分隔，每项取 " + " \\| ".join(f"`{v}`" for v in f.items)
        )
    if f.kind == "uscc_list":
        parts.append("`;`-separated valid USCCs 以分号分隔的有效统一社会信用代码")
    if f.future_ok:
        parts.append("may be after the ingest day 可晚于入库日")
    if f.kind == "uscc":
        parts.append("valid USCC 有效统一社会信用代码")
    elif f.pattern:
        parts.append(f"`{f.pattern}`")
    if f.kind == "region_code":
        parts.append("starts with the province 以省级代码开头")
    if f.ge is not None:
        parts.append(f"≥ {f.ge:g}")
    if f.le is not None:
        parts.append(f"≤ {f.le:g}")
    return "; ".join(parts)


def _dataset_section(spec: DatasetSpec) -> list[str]:
    out = [
        f"### `{spec.name}` — {spec.zh}",
        "",
        f"{spec.description}. Key 主键: `{' + '.join(spec.key)}`. Path 路径: `incoming/<PP>/{spec.name}/<file>`. "  # noqa: E501
        f"JSON Schema: [`schemas/json/{spec.name}.schema.json`](../schemas/json/{spec.name}.schema.json).",
        "",
        "| column 列名 | 中文列名 | type 类型 | required 必填 | rule 规则 | description 说明 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for f in spec.fields:
        out.append(
            f"| `{f.name}` | {f.zh} | {f.type} {TYPE_ZH[f.type]} | {'yes 是' if f.required else 'no 否'} "
            f"| {_rule(f)} | {f.description} |"
        )
    return [*out, "", *DATASET_NOTES.get(spec.name, ())]


DATASET_NOTES: dict[str, tuple[str, ...]] = {
    "inspectors": (
        "Personal data: `name` is a pseudonym; real names and identity numbers are never uploaded (a row"
        " holding an ID-shaped value is rejected, `personal_data`). `conflicts` stay internal: they steer"
        " recusal and never appear in a plan, an error or a log. An inspector staffs targets in the area"
        " of its office (420000 the province, 420100 the city, 420102 the county) while active on the"
        " draw day (`active_from` ≤ day ≤ `active_to`); to retire one, upload the row again with"
        " `active_to` (docs/api.md).",
        "",
        "个人信息：`name` 仅填化名，不得上传真实姓名或身份证号"
        "（含身份证号形态值的行被拒收，`personal_data`）。"
        "`conflicts`（回避主体）仅供内部回避使用，不出现在任何抽查计划、错误信息或日志中。检查人员只抽派至其"
        "所属机关辖区（420000 省、420100 市、420102 县区）内、且抽取当日在岗（`active_from` ≤ 当日 ≤"
        " `active_to`）的检查对象；人员离岗时重新上传该行并填写 `active_to`。",
        "",
    ),
    "supervision_lists": (
        "Tolerance lists (包容审慎, docs/adr/0123): a sampling task draws `whitelist` entities as a"
        " stratum of their own at its whitelist ratio (default 0.01, Heilongjiang's 3 % → 1 %) and"
        " `sandbox` entities (沙盒监管) at ratio 0: they are inspected only when a complaint or a"
        " transferred case triggers it. An entry without `tolerance_end` lasts one year from"
        " `listed_from`. An entity classified C or D leaves either list, a sandbox entity also when its"
        " annual report is overdue; the plan records each exit with its reason. Rules:"
        " `schemas/supervision.yaml`.",
        "",
        "包容审慎监管名单（ADR 0123）：抽查任务将 `whitelist`（白名单）主体作为单独层按白名单抽查比例抽取"
        "（默认 1%，参照黑龙江由 3% 以上降至 1%），`sandbox`（沙盒监管）主体抽查比例为 0，仅在投诉举报、"
        "转办交办触发时检查。未填 `tolerance_end` 的，包容期为自 `listed_from` 起一年。被评为 C 类或 D 类的"
        "主体自动移出名单，沙盒主体未按期报送年报的亦移出；抽查计划记录每一移出及其原因。规则见"
        " `schemas/supervision.yaml`。",
        "",
    ),
}


def render_doc() -> str:
    lines = [
        "# Upload contract v1 / 数据上传规范 v1",
        "",
        "<!-- GENERATED by `python -m schemas.contract_doc` from schemas/datasets.py; do not edit. -->",
        "",
        "## English",
        "",
        "- **Where.** Upload to `incoming/<PP>/<dataset>/<file>` in the landing area; `<PP>` is the"
        " 2-digit GB/T 2260 province code, `<dataset>` one of the names below. Each upload is one ingest.",
        "- **Formats** (by extension): `.csv`, `.csv.gz`, `.jsonl`, `.jsonl.gz`, `.parquet`, `.xlsx`, `.xls`."
        " CSV/JSON Lines encodings are detected: UTF-8, UTF-8 with BOM, GB18030/GBK. Spreadsheets:"
        " title and 说明 rows above the header are skipped (the header row is the top row matching the"
        " most known headers), the sheet named after the dataset (`penalties` or `行政处罚` …) is"
        " taken, else the best-matching sheet; cells are read as text, blank rows skipped.",
        "- **Header.** CSV needs a header row. Each column may be named in English, by its Chinese"
        " alias, or by any synonym of the mapping profile (the national export layouts below;"
        " provinces may add `schemas/profiles/provinces/<PP>.yaml`). Matching ignores full-/half-width"
        " brackets, spaces, `_ - /` and case. Unknown extra columns are ignored and listed in the"
        " report. Column order is free.",
        "- **Export layouts.** Headers under a Chinese name (alias or synonym) get the profile's value"
        " rewriting: Chinese vocabularies → contract values, dates `2024年3月5日`, `2024/3/5`,"
        " `2024-3-5`, `2024-03-05 00:00:00`, `20240305` → ISO, placeholders (below) → empty, a header"
        " naming 万元 → ×10,000 exactly (decimal), registered capital such as `800万人民币` → 万元,"
        " 9/12-digit region codes → 6, 4-digit industry codes → section letter + digits, derived"
        " columns (below). Under the English names values are taken as written.",
        "- **Values.** Leading/trailing whitespace is trimmed; an empty value is missing."
        " Dates: `YYYY-MM-DD`, also `YYYY/MM/DD` and `YYYYMMDD`. Yes/no columns: `true/false`,"
        " `1/0`, `yes/no`, `是/否` (also `t/f`, `y/n`; case-insensitive). Numbers: plain decimal"
        " (`1234.5`, `1e3`), no thousands separators. Enumerated values are lower-case, exactly as listed.",
        "- **Row checks.** Every failing row gets every applicable reason code (below) with the column;"
        " the row is quarantined, the good rows are curated.",
        "- **File checks.** A file is rejected whole (nothing curated, the upload still archived) for"
        " the file-level reasons below, or when more than `CREDITRISK_MAX_REJECT_SHARE` of its rows"
        " (default 5%; exactly 5% is still accepted) fail.",
        "- **Out of scope.** Rows about natural persons (reasons below) are not market entities: they"
        " are counted as `rows_out_of_scope`, neither accepted nor rejected, and never push a file over"
        " the reject threshold.",
        "- **Dry run.** `creditrisk contract check FILE [--dataset D] [--province PP]` shows the mapping,"
        " the first problems per column and the outcome without a lake; exit status 0 accepted, 1 rejected.",
        "- **Personal data.** Identity-number columns known by name (list below) are dropped before"
        " anything is stored or scanned; the report lists them. No other column may carry resident ID numbers (18 characters: area, birth date,"  # noqa: E501
        " sequence, ISO 7064 MOD 11-2 check). Such a row is rejected with `personal_data`; the value is"
        " masked in the quarantine and the report and never reaches the curated lake. Valid USCCs are"
        " never mistaken for IDs.",
        "- **Accounting.** Every file gets a JSON report (`reports/ingest/<PP>/<dataset>/<ingest_id>.json`)"
        " with `rows_read = rows_accepted + rows_rejected + rows_out_of_scope`, counts per reason,"
        " the profile and version, the header mapping, dropped and derived columns, the first 100 errors"
        " (line, column, code, message), the SHA-256 of the upload, the header mapping, and the curated"
        " file's key, SHA-256 and size (`curated_key`, `curated_sha256`, `curated_bytes`: monthly runs"
        " name their inputs by this digest, ADR 0039). Rejected rows are in"
        " `quarantine/<PP>/<dataset>/<ingest_id>/rejected.jsonl` (line, uploaded values, reasons)."
        " Line numbers: CSV counts the header as line 1; JSON Lines counts lines; Parquet counts rows.",
        "- **Corrections.** Re-upload the corrected record (same key) in a new file or a new version of"
        " the file. Curated data is append-only: every ingest is kept with its ingest time, and readers"
        " take, per key, the row of the latest ingest (`_ingested_at`). Older versions stay so that"
        " past classifications can be reproduced. There is no delete: withdraw a penalty with"
        " `withdrawn = true`, end a listing with `removed_on`.",
        "- **Idempotency.** Delivering the same object twice (same key and bytes) is a no-op;"
        " `ingest_id` is a digest of the key and the content's SHA-256.",
        "",
        "### Largest upload",
        "",
        f"- One upload may be up to **{MAX_UPLOAD_BYTES / 1e9:g} GB as stored** (a `.gz` file counts"
        f" compressed) and hold up to **{MAX_UPLOAD_ROWS:,} rows**. Files are read in batches,"
        " so a full dump of every registered entity of a province fits in one file.",
        "- Above either limit the file is rejected whole with `too_large`: the report says so"
        " (`status: rejected_file`, `file_reason: too_large`, the size in the message), nothing is"
        " curated, and the upload is not archived but stays in `incoming/` until the landing"
        " area's lifecycle expires it (14 days in dev, 30 in prod), so nothing is lost: split it into"
        " several files (each its own ingest; one key per row across them, the latest ingest wins)"
        " or compress it with gzip, and upload again.",
        "- A file whose rejected rows alone would exceed the size limit in the quarantine is rejected"
        " whole with `too_many_rejects` as soon as that is certain.",
        "",
        "## 中文",
        "",
        "- **上传位置**：落地区 `incoming/<省级代码>/<数据集>/<文件名>`，省级代码为GB/T 2260两位代码。",
        "- **文件格式**（按扩展名）：`.csv`、`.csv.gz`、`.jsonl`、`.jsonl.gz`、`.parquet`、`.xlsx`、`.xls`。"
        "编码自动识别：UTF-8、带BOM的UTF-8、GB18030/GBK。电子表格：表头上方的标题行、说明行自动跳过；"
        "优先取以数据集命名的工作表，否则取表头最匹配的工作表；单元格按文本读取，空行跳过。",
        "- **表头**：CSV必须有表头；列名可用英文名、下表中的中文列名或映射配置（下文各导出格式，"
        "各省可增加 `schemas/profiles/provinces/<省级代码>.yaml`）中的同义表头；匹配时不区分全角/半角括号、"
        "空格、`_ - /` 和大小写；多余的列忽略并在报告中列出；列顺序不限。",
        "- **现有导出格式**：中文表头（中文列名或同义表头）下的取值按映射配置转换：中文取值→规范取值；"
        "日期 `2024年3月5日`、`2024/3/5`、`2024-3-5`、`2024-03-05 00:00:00`、`20240305` → ISO；"
        "占位值（见下）→ 空；表头注明万元的金额精确乘以10000；注册资本如 `800万人民币` → 万元；"
        "9位/12位区划代码 → 6位；4位行业代码 → 门类字母加代码；可推导的列按下文推导。英文列名下的取值原样读取。",  # noqa: E501
        "- **不在范围**：关于自然人的行（原因见下）计为 `rows_out_of_scope`，既不接收也不拒收，不计入拒收比例。",  # noqa: E501
        "- **预检**：`creditrisk contract check 文件 [--dataset 数据集] [--province 省级代码]` 不需要数据湖，"
        "显示表头映射、各列前几个问题和结论；接收时退出码0，拒收时1。",
        "- **取值**：去除首尾空白，空值视为缺失。日期为 `YYYY-MM-DD`，也接受 `YYYY/MM/DD`、`YYYYMMDD`。"
        "是/否字段接受 `true/false`、`1/0`、`yes/no`、`是/否`（不区分大小写）。数字不得含千分位。枚举值须与下表完全一致（小写）。",  # noqa: E501
        "- **逐行校验**：不合格行列出全部原因代码及所在列，进入隔离区；合格行入库。",
        "- **整文件拒收**：出现下列文件级原因，或不合格行占比超过上限（默认5%，恰好5%仍接收）时整文件拒收，原文件仍归档。",  # noqa: E501
        "- **个人信息**：下文所列证件号码列在存储和扫描之前即删除，报告中列出；其他任何列不得包含居民身份证号；含身份证号的行以 `personal_data` 拒收，隔离区和报告中打码，绝不进入入库数据。",  # noqa: E501
        "- **核对**：每个文件生成JSON报告：读入行数 = 接收行数 + 拒收行数 + 不在范围行数，各原因计数，"
        "所用映射配置及版本、表头映射、删除及推导的列，前100条错误（行号、列、代码、说明）、SHA-256。",
        "- **更正**：以相同主键重新上传即可更正；入库数据只追加不改写，读取时按主键取最近一次入库的记录，旧版本保留以便复现历史分类结果。",  # noqa: E501
        "- **幂等**：同一对象（相同路径和内容）重复投递不产生任何变化。",
        "",
        "### 最大上传",
        "",
        f"- 单个文件最大 **{MAX_UPLOAD_BYTES / 1e9:g} GB**（按上传后的大小计，`.gz` 按压缩后计），"
        f"最多 **{MAX_UPLOAD_ROWS:,} 行**；文件分批读取，一个省的全量主体可放在一个文件中。",
        "- 超过任一上限的文件以 `too_large` 整文件拒收：报告注明原因和大小，不入库、不归档，"
        "原文件保留在 `incoming/` 直至落地区生命周期到期（开发环境14天，生产环境30天），数据不会丢失；"
        "请拆分为多个文件（每个文件单独入库，按主键取最近一次入库的记录）或用gzip压缩后重新上传。",
        "",
        "## Row reason codes / 行级原因代码",
        "",
        "| code 代码 | meaning | 含义 |",
        "| --- | --- | --- |",
        *[f"| `{c}` | {en} | {zh} |" for c, (en, zh) in ROW_REASONS.items()],
        "",
        "## File-level reasons / 文件级原因",
        "",
        "| code 代码 | meaning | 含义 |",
        "| --- | --- | --- |",
        *[f"| `{c}` | {en} | {zh} |" for c, (en, zh) in FILE_REASONS.items()],
        "",
        "## Out-of-scope reasons / 不在范围原因",
        "",
        "| code 代码 | meaning | 含义 |",
        "| --- | --- | --- |",
        *[f"| `{c}` | {en} | {zh} |" for c, (en, zh) in OUT_OF_SCOPE_REASONS.items()],
        "",
        "## Datasets / 数据集",
        "",
    ]
    for spec in DATASETS.values():
        lines.extend(_dataset_section(spec))
    lines.extend(field_section())
    lines.extend(profile_sections())
    return "\n".join(lines).rstrip() + "\n"


def field_section() -> list[str]:
    """Which records belong to which professional field (``schemas/fields.yaml``), EN + ZH."""
    from schemas.fields import FIELDS

    rows = [
        f"| `{name}` | {f.zh} {f.en} | `{f.system}` | {', '.join(f'`{d}`' for d in f.domains)} | "
        f"{', '.join(f'`{t}`' for t in f.licence_types)} |"
        for name, f in FIELDS.items()
    ]
    return [
        "## Professional fields / 专业领域",
        "",
        "Generated from `schemas/fields.yaml`. A field system (docs/indicator-systems/) reads the"
        " records whose `domain` is one of the field's domains (penalties, inspections, complaints,"
        " product checks), the field's licence types in `licences` and, for special equipment,"
        " `equipment`; it classifies only entities with a licence or a record of the field"
        " (docs/results-contract.md). Leave a complaint's `domain` empty when it is not known: it then"
        " counts for the general class only.",
        "",
        "由 `schemas/fields.yaml` 生成。专业领域指标体系读取 `domain` 属于本领域的行政处罚、检查、投诉举报和"
        "监督抽查抽检记录、本领域类型的许可（`licences`），特种设备另读取使用登记（`equipment`）；只对持有本领域"
        "许可或有本领域记录的主体分类。投诉举报的 `domain` 不明时留空，仅计入通用分类。",
        "",
        "| field 领域 | 名称 | system 指标体系 | domain 领域值 | licence types 许可类型 |",
        "| --- | --- | --- | --- | --- |",
        *rows,
        "",
    ]


def _load_profile_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def _codes(values: list[Any]) -> str:
    return ", ".join(f"`{v}`" for v in values)


def profile_sections() -> list[str]:
    """Every synonym, vocabulary and derivation of the profiles, as tables (EN + ZH)."""
    p = _load_profile_yaml(PROFILE_DIR / "national.yaml")
    out = [
        f"## Mapping profile `{p['name']}` {p['version']} / 映射配置",
        "",
        "Generated from `schemas/profiles/national.yaml` (ADR 0080). 由映射配置生成。",
        "",
        "### Personal-data columns (dropped) / 证件号码列（删除，不存储）",
        "",
        _codes(p.get("personal_data_columns", [])),
        "",
        "### Placeholders meaning empty / 视为空值的占位值",
        "",
        _codes([*p.get("placeholders", []), *p.get("date_placeholders", [])]),
        "",
    ]
    oos = p.get("out_of_scope") or {}
    if oos:
        out += [
            "### Natural persons / 自然人",
            "",
            f"`{oos['reason']}`: no USCC and role `{oos['role']}` is one of {_codes(oos['values'])}, or one"
            f" of {_codes(oos.get('person_id_columns', []))} has a value."
            f" 无统一社会信用代码，且行政相对人类别为上述取值或上述证件号码列有值。",
            "",
        ]
    for ds, body in (p.get("datasets") or {}).items():
        out += [
            f"### `{ds}` — headers / 表头",
            "",
            "| column 列 | accepted headers 可用表头 |",
            "| --- | --- |",
        ]
        spec = DATASETS[ds]
        for f in spec.fields:
            syn = (body.get("columns") or {}).get(f.name, [])
            out.append(f"| `{f.name}` | {_codes([f.name, f.zh, *[s for s in syn if s != f.zh]])} |")
        for role, hs in (body.get("roles") or {}).items():
            out.append(f"| role `{role}` (input only 仅用于推导) | {_codes(hs)} |")
        if body.get("vocabulary"):
            out += [
                "",
                "Vocabularies 取值表: " + ", ".join(f"`{c}` ← `{v}`" for c, v in body["vocabulary"].items()),
            ]
        if body.get("units"):
            out += ["", "Units when the header names none 表头未注明单位时: "
                    + ", ".join(f"`{c}` {u}" for c, u in body["units"].items())]  # fmt: skip
        if body.get("derive"):
            out += ["", "| derived column 推导列 | from 来源 | how 方法 |", "| --- | --- | --- |"]
            out += [
                f"| `{c}` | {_codes(d.get('from', []))} | {d.get('how', '')} |"
                for c, d in body["derive"].items()
            ]
        out.append("")
    for name, vocab in (p.get("vocabularies") or {}).items():
        out += [f"### Vocabulary `{name}` / 取值表", "", "| written 原文 | value 规范值 |", "| --- | --- |"]
        out += [f"| {k} | `{v}` |" for k, v in vocab.items()]
        out.append("")
    for name, table in (p.get("keywords") or {}).items():
        out += [
            f"### Keywords `{name}` (first match wins) / 关键词（按顺序，先匹配者优先）",
            "",
            " → ".join(f"{k}: `{v}`" for k, v in table.get("rules", []))
            + (f"; otherwise 其他: `{table['default']}`" if table.get("default") else ""),
            "",
        ]
    for name, order in (p.get("severity") or {}).items():
        out += [
            f"### Severity `{name}` (rising) / 严重程度（由轻到重）",
            "",
            " < ".join(f"`{v}`" for v in order),
            "",
            "`kind` keeps the most severe of a cell's categories; `kinds` keeps all of them."
            " `kind` 取单元格中最重的处罚类别，`kinds` 保留全部。",
            "",
        ]
    sections = p.get("industry_sections") or {}
    if sections:
        out += [
            "### GB/T 4754-2017 division → section / 行业大类 → 门类",
            "",
            ", ".join(f"`{k}` {lo:02d}–{hi:02d}" for k, (lo, hi) in sections.items()),
            "",
        ]
    overlays = sorted((PROFILE_DIR / "provinces").glob("*.yaml"))
    out += [
        "### Province overlays / 省级配置",
        "",
        ", ".join(f"`{o.relative_to(ROOT)}`" for o in overlays) if overlays else "None yet. 暂无。",
        "",
    ]
    return out


def json_schema(spec: DatasetSpec) -> dict[str, Any]:
    schema = spec.model.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://creditrisk.example/schemas/{spec.name}.schema.json",
        **schema,
        "title": f"{spec.name} ({spec.zh})",
        "description": f"{spec.description}. One row of an upload; key: {', '.join(spec.key)}.",
        "x-key": list(spec.key),
    }


def rendered() -> dict[Path, str]:
    from schemas import tables_doc

    out = {DOC_PATH: render_doc(), tables_doc.DOC_PATH: tables_doc.render()}
    for spec in DATASETS.values():
        out[JSON_DIR / f"{spec.name}.schema.json"] = (
            json.dumps(json_schema(spec), ensure_ascii=False, indent=2) + "\n"
        )
    return out


def stale() -> list[Path]:
    return [p for p, text in rendered().items() if not p.exists() or p.read_text(encoding="utf-8") != text]


def main(argv: list[str]) -> int:
    if "--check" in argv:
        bad = stale()
        for p in bad:
            print(f"stale: {p.relative_to(ROOT)} (run python -m schemas.contract_doc)", file=sys.stderr)
        return 1 if bad else 0
    for p, text in rendered().items():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
        print(f"wrote {p.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
