"""The platform template is generated from the contracts and says what issue 5 requires."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from functions.classify.curated_views import curated_table
from functions.layout import PROVINCES, classification_prefix, curated_key
from infra import platform as gen
from schemas.datasets import DATASETS
from schemas.results import CLASSIFICATION_SCHEMA
from tests.infra.conftest import load_template

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(ROOT / "infra" / "platform.yaml")


def test_committed_template_is_what_the_generator_makes() -> None:
    assert gen.main(["--check"]) == 0, "infra/platform.yaml is stale: run `python -m infra.platform`"


def _table(template: dict[str, Any], name: str) -> dict[str, Any]:
    tables = [
        r["Properties"]["TableInput"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Glue::Table" and r["Properties"]["TableInput"]["Name"] == name
    ]
    assert len(tables) == 1, name
    table: dict[str, Any] = tables[0]
    return table


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_every_curated_dataset_has_a_projected_table_with_its_contract_columns(
    template: dict[str, Any], name: str
) -> None:
    t = _table(template, curated_table(name))
    cols = [(c["Name"], c["Type"]) for c in t["StorageDescriptor"]["Columns"]]
    assert [c for c, _ in cols] == DATASETS[name].curated_schema.names
    assert ("_ingested_at", "timestamp") in cols
    assert t["PartitionKeys"] == [{"Name": "province", "Type": "string"}]
    params = t["Parameters"]
    assert params["projection.enabled"] == "true"
    assert params["projection.province.values"].split(",") == sorted(PROVINCES)
    location = params["storage.location.template"]["Fn::Sub"]
    # The template points where functions/layout.py writes.
    written = curated_key(name, "42", "i1").rsplit("/ingest=", 1)[0]
    assert location.replace("${!province}", "42") == f"s3://${{LakeBucket}}/{written}/"


def test_results_table_matches_the_results_contract(template: dict[str, Any]) -> None:
    t = _table(template, "classifications")
    cols = {c["Name"]: c["Type"] for c in t["StorageDescriptor"]["Columns"]}
    assert list(cols) == CLASSIFICATION_SCHEMA.names
    assert cols["dimension_scores"].startswith("struct<basic:double")
    assert cols["reasons"] == "array<struct<code:string,label:string,points:double>>"
    assert [k["Name"] for k in t["PartitionKeys"]] == ["month", "province"]
    p = t["Parameters"]
    assert (p["projection.month.type"], p["projection.month.format"]) == ("date", "yyyy-MM")
    assert p["projection.month.interval.unit"] == "MONTHS"
    loc = p["storage.location.template"]["Fn::Sub"]
    filled = loc.replace("${!month}", "2026-10").replace("${!province}", "42")
    assert filled == f"s3://${{LakeBucket}}/{classification_prefix('2026-10', '42')}/"


def test_glue_types_cover_every_arrow_type_we_write() -> None:
    assert gen.glue_type(pa.list_(pa.struct([("a", pa.int64())]))) == "array<struct<a:bigint>>"
    assert gen.glue_type(pa.date32()) == "date"
    with pytest.raises(TypeError):
        gen.glue_type(pa.binary())


@pytest.mark.parametrize("bucket", ["LandingBucket", "LakeBucket"])
def test_data_buckets_are_versioned_encrypted_private_logged(template: dict[str, Any], bucket: str) -> None:
    p = template["Resources"][bucket]["Properties"]
    assert p["VersioningConfiguration"] == {"Status": "Enabled"}
    sse = p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert sse == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::GetAtt": ["DataKey", "Arn"]}}
    assert all(p["PublicAccessBlockConfiguration"].values())
    assert p["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": "AccessLogBucket"}
    policy = template["Resources"][f"{bucket}Policy"]["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in policy
    )
    assert template["Resources"][bucket]["DeletionPolicy"] == "Retain"


def test_lifecycle_keeps_archive_and_quarantine_and_expires_scratch(template: dict[str, Any]) -> None:
    lake_rules = template["Resources"]["LakeBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    expiring = {r.get("Prefix") for r in lake_rules if "ExpirationInDays" in r}
    assert expiring == {"athena-results/", "backtests/"}
    backtests = next(r for r in lake_rules if r.get("Prefix") == "backtests/")
    assert (
        backtests["ExpirationInDays"] == 30
        and backtests["NoncurrentVersionExpiration"]["NoncurrentDays"] == 1
    )
    landing = template["Resources"]["LandingBucket"]["Properties"]
    assert {
        r.get("Prefix") for r in landing["LifecycleConfiguration"]["Rules"] if "ExpirationInDays" in r
    } == {"incoming/"}
    assert landing["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}


def test_athena_workgroups_enforce_encrypted_output_and_a_scan_limit(template: dict[str, Any]) -> None:
    for name in ("PlatformWorkGroup", "AuditWorkGroup"):
        cfg = template["Resources"][name]["Properties"]["WorkGroupConfiguration"]
        assert cfg["EnforceWorkGroupConfiguration"] is True
        assert cfg["BytesScannedCutoffPerQuery"] == {"Ref": "AthenaBytesScannedCutoff"}
        assert cfg["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"


def test_no_account_ids_in_the_repository_templates() -> None:
    import re

    paths = [ROOT / "infra" / "platform.yaml", *(ROOT / "infra" / "stages").glob("*.json")]
    paths += list((ROOT / ".chalice").glob("*.json"))
    for path in paths:
        text = path.read_text(encoding="utf-8")
        # AWS's own publisher accounts (the managed layer) are fine; ours never appear.
        text = re.sub(r"arn:aws(-cn)?:lambda:[a-z0-9-]+:[0-9]{12}:layer:AWSSDKPandas[^\"\s]*", "", text)
        assert not re.search(r"arn:[^\s\"']*:[0-9]{12}:", text), path
        assert not re.search(r"AKIA[0-9A-Z]{16}", text), path


def test_stage_parameters_match_the_template() -> None:
    from infra.params import overrides

    declared = set(gen.PARAMETERS)
    for stage in ("dev", "prod"):
        given = {o.split("=", 1)[0] for o in overrides(stage)}
        assert given == declared, stage
