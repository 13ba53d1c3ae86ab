"""Generate ``infra/platform.yaml``: the stateful half of a deployment (docs/adr/0050, 0052).

Buckets, the customer-managed key, the Glue catalog, the Athena workgroups, the inspection-task
SNS topic and the human-facing IAM roles (one uploader role per province, one auditor role).
The Glue tables are derived from the data contracts in ``schemas/`` so that the catalog can
never drift from what the code writes: ``python -m infra.platform`` rewrites the template,
``--check`` fails when it is stale (run by ``tests/infra/test_platform_template.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from functions import layout
from functions.classify.curated_views import RESULTS_TABLE
from functions.classify.curated_views import curated_table as glue_table_name
from functions.layout import PROVINCES
from infra import cfn, delivery, uploads_notify
from infra.cfn import getatt, ref, sub
from schemas.datasets import DATASETS
from schemas.results import CLASSIFICATION_SCHEMA
from schemas.tables import RESULTS_TABLES, ResultsTable

TEMPLATE_PATH = Path(__file__).with_name("platform.yaml")
APP = "creditrisk"
# Prefixes of the lake bucket the roles and lifecycle rules talk about (functions/layout.py).
ATHENA_RESULTS = "athena-results"
PLATFORM_RESULTS = layout.ATHENA_PLATFORM_RESULTS
AUDIT_RESULTS = f"{ATHENA_RESULTS}/audit"
CLASSIFICATIONS_TABLE = RESULTS_TABLE  # the names the classification SQL uses
Json = dict[str, Any]


def skip(*checks: tuple[str, str]) -> Json:
    """Checkov skips live next to the resource they concern, each with its reason."""
    return {"checkov": {"skip": [{"id": cid, "comment": why} for cid, why in checks]}}


# -- Glue types from Arrow ----------------------------------------------------------------------
def glue_type(t: pa.DataType) -> str:
    """The Hive/Glue type name of an Arrow type (what Athena reads from our Parquet)."""
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_int64(t):
        return "bigint"
    if pa.types.is_int32(t):
        return "int"
    if pa.types.is_float64(t):
        return "double"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_date32(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"array<{glue_type(t.value_type)}>"
    if pa.types.is_map(t):
        return f"map<{glue_type(t.key_type)},{glue_type(t.item_type)}>"
    if pa.types.is_struct(t):
        inner = ",".join(f"{t.field(i).name}:{glue_type(t.field(i).type)}" for i in range(t.num_fields))
        return f"struct<{inner}>"
    raise TypeError(f"no Glue type for Arrow type {t}")


def glue_columns(schema: pa.Schema, *, skip_names: tuple[str, ...] = ()) -> list[Json]:
    return [{"Name": f.name, "Type": glue_type(f.type)} for f in schema if f.name not in skip_names]


def _parquet_storage(location: Json, columns: list[Json]) -> Json:
    return {
        "Columns": columns,
        "Location": location,
        "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
    }


def _province_projection() -> Json:
    return {"projection.province.type": "enum", "projection.province.values": ",".join(sorted(PROVINCES))}


def curated_glue_table(name: str) -> Json:
    """One curated dataset: partitioned by province (projected enum).

    ``ingest=<id>`` folders below a province are read as part of it; the ingest id is also the
    ``_ingest_id`` lineage column, so it needs no partition key (and cannot be projected).
    """
    spec = DATASETS[name]
    base = f"s3://${{LakeBucket}}/curated/{name}"
    return {
        "Type": "AWS::Glue::Table",
        "Properties": {
            "CatalogId": ref("AWS::AccountId"),
            "DatabaseName": ref("GlueDatabase"),
            "TableInput": {
                "Name": glue_table_name(name),
                "Description": f"{spec.description} ({spec.zh}); curated, generated from schemas/",
                "TableType": "EXTERNAL_TABLE",
                "PartitionKeys": [{"Name": "province", "Type": "string"}],
                "Parameters": {
                    "classification": "parquet",
                    "projection.enabled": "true",
                    **_province_projection(),
                    "storage.location.template": sub(base + "/province=${!province}/"),
                },
                "StorageDescriptor": _parquet_storage(sub(base + "/"), glue_columns(spec.curated_schema)),
            },
        },
    }


def classifications_table() -> Json:
    base = "s3://${LakeBucket}/results/classifications"
    return {
        "Type": "AWS::Glue::Table",
        "Properties": {
            "CatalogId": ref("AWS::AccountId"),
            "DatabaseName": ref("GlueDatabase"),
            "TableInput": {
                "Name": CLASSIFICATIONS_TABLE,
                "Description": "Published monthly classifications (docs/results-contract.md)",
                "TableType": "EXTERNAL_TABLE",
                "PartitionKeys": [
                    {"Name": "month", "Type": "string"},
                    {"Name": "province", "Type": "string"},
                ],
                "Parameters": {
                    "classification": "parquet",
                    "projection.enabled": "true",
                    "projection.month.type": "date",
                    "projection.month.format": "yyyy-MM",
                    "projection.month.interval": "1",
                    "projection.month.interval.unit": "MONTHS",
                    "projection.month.range": sub("${ProjectionStartMonth},NOW"),
                    **_province_projection(),
                    "storage.location.template": sub(base + "/month=${!month}/province=${!province}/"),
                },
                "StorageDescriptor": _parquet_storage(
                    sub(base + "/"), glue_columns(CLASSIFICATION_SCHEMA, skip_names=("month", "province"))
                ),
            },
        },
    }


def results_glue_table(t: ResultsTable) -> Json:
    """A results dataset of ``schemas/tables.py`` (warnings, tasks, coverage, ingest reports):
    hive partitions projected like the classifications', JSON read with the OpenX SerDe."""
    base = f"s3://${{LakeBucket}}/{t.prefix}"
    params: Json = {"classification": t.format}
    if t.partitions:
        params["projection.enabled"] = "true"
        if "month" in t.partitions:
            params.update(
                {
                    "projection.month.type": "date",
                    "projection.month.format": "yyyy-MM",
                    "projection.month.interval": "1",
                    "projection.month.interval.unit": "MONTHS",
                    "projection.month.range": sub("${ProjectionStartMonth},NOW"),
                }
            )
        if "province" in t.partitions:
            params.update(_province_projection())
        for key, values in t.enums:
            params.update({f"projection.{key}.type": "enum", f"projection.{key}.values": ",".join(values)})
        for key in t.injected:  # the query's own ``key = '…'`` gives the one partition to read
            params[f"projection.{key}.type"] = "injected"
        path = "/".join(f"{p}=${{!{p}}}" for p in t.partitions)
        params["storage.location.template"] = sub(f"{base}/{path}/")
    columns = glue_columns(t.schema, skip_names=t.partitions)
    if t.format == "parquet":
        storage = _parquet_storage(sub(base + "/"), columns)
    else:
        storage = {
            "Columns": columns,
            "Location": sub(base + "/"),
            "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            "SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"},
        }
    return {
        "Type": "AWS::Glue::Table",
        "Properties": {
            "CatalogId": ref("AWS::AccountId"),
            "DatabaseName": ref("GlueDatabase"),
            "TableInput": {
                "Name": t.name,
                "Description": f"{t.description} (generated from schemas/tables.py)",
                "TableType": "EXTERNAL_TABLE",
                "PartitionKeys": [{"Name": p, "Type": "string"} for p in t.partitions],
                "Parameters": params,
                "StorageDescriptor": storage,
            },
        },
    }


# -- storage ----------------------------------------------------------------------------------
def _tls_only(bucket: str) -> Json:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [getatt(bucket, "Arn"), sub(f"${{{bucket}.Arn}}/*")],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def _records_kept(bucket: str) -> list[Json]:
    """The lake's sampling records are kept as written, whoever asks (docs/adr/0166): writes
    under the create-once prefixes must carry ``If-None-Match`` and under the audit prefix
    ``If-None-Match`` or ``If-Match`` (``Null`` keys in one block are ANDed), and nothing there
    is deleted. Multipart parts and ``CopyObject`` carry no such header, so they are refused
    too: the platform writes these objects with one ``PutObject`` (functions/lake.py)."""

    def under(prefixes: tuple[str, ...]) -> list[Any]:
        return [sub(f"${{{bucket}.Arn}}/{p}/*") for p in prefixes]

    return [
        {
            "Sid": "RecordsAreCreatedOnce",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": under(layout.CREATE_ONCE_PREFIXES),
            "Condition": {"Null": {"s3:if-none-match": "true"}},
        },
        {
            "Sid": "AuditWritesAreConditional",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": under(layout.CONDITIONAL_PREFIXES),
            "Condition": {"Null": {"s3:if-none-match": "true", "s3:if-match": "true"}},
        },
        {
            "Sid": "RecordsAreNeverDeleted",
            "Effect": "Deny",
            "Principal": "*",
            "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
            "Resource": under(layout.RECORD_PREFIXES),
        },
    ]


_PUBLIC_BLOCK = {
    "BlockPublicAcls": True,
    "BlockPublicPolicy": True,
    "IgnorePublicAcls": True,
    "RestrictPublicBuckets": True,
}


def _kms_encryption() -> Json:
    return {
        "ServerSideEncryptionConfiguration": [
            {
                "ServerSideEncryptionByDefault": {
                    "SSEAlgorithm": "aws:kms",
                    "KMSMasterKeyID": getatt("DataKey", "Arn"),
                },
                "BucketKeyEnabled": True,
            }
        ]
    }


def _abort_multipart() -> Json:
    return {
        "Id": "abort-incomplete-uploads",
        "Status": "Enabled",
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
    }


def data_bucket(kind: str, lifecycle: list[Json], *, eventbridge: bool = False, note: str = "") -> Json:
    props: Json = {
        "BucketName": sub(f"{APP}-${{Stage}}-{kind}-${{AWS::AccountId}}-${{AWS::Region}}"),
        "VersioningConfiguration": {"Status": "Enabled"},
        "BucketEncryption": _kms_encryption(),
        "PublicAccessBlockConfiguration": _PUBLIC_BLOCK,
        "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        "LoggingConfiguration": {
            "DestinationBucketName": ref("AccessLogBucket"),
            "LogFilePrefix": f"{kind}/",
        },
        "LifecycleConfiguration": {"Rules": [*lifecycle, _abort_multipart()]},
    }
    if eventbridge:
        props["NotificationConfiguration"] = {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    return {
        "Type": "AWS::S3::Bucket",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        **({"Metadata": {"retention": note}} if note else {}),
        "Properties": props,
    }


# Lake prefixes whose replaced (noncurrent) versions expire, and after how many days.
NONCURRENT_EXPIRY_DAYS = {"curated/": 30, "reports/": 30, "_state/": 7, "_auth/": 30}
# Lake prefixes that keep every version (no noncurrent expiry): the audit trail.
VERSIONS_KEPT = ("archive/", "quarantine/", "results/", "plans/", "audit/", "tasks/")


def storage() -> Json:
    retained = (
        "archive/ and quarantine/ have no expiry on purpose: they are the byte-for-byte record of "
        "what providers sent (docs/adr/0053)"
    )
    landing_rules: list[Json] = [
        {
            "Id": "expire-processed-incoming",
            "Status": "Enabled",
            "Prefix": "incoming/",
            "ExpirationInDays": ref("IncomingExpiryDays"),
            "NoncurrentVersionExpiration": {"NoncurrentDays": ref("IncomingExpiryDays")},
        }
    ]
    lake_rules: list[Json] = [
        {
            "Id": "expire-athena-scratch",
            "Status": "Enabled",
            "Prefix": f"{ATHENA_RESULTS}/",
            "ExpirationInDays": ref("AthenaResultsExpiryDays"),
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
        },
        {
            # champion/challenger scratch: re-derivable, never published (docs/adr/0108)
            "Id": "expire-backtests-scratch",
            "Status": "Enabled",
            "Prefix": f"{layout.BACKTESTS_PREFIX}/",
            "ExpirationInDays": layout.BACKTESTS_KEEP_DAYS,
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
        },
        # Noncurrent versions (docs/adr/0073): areas that are re-derivable or operational state
        # expire replaced versions; archive/, quarantine/, results/ and plans/ keep every version
        # (the providers' bytes, what was published to inspectors, and the drawn plans are the
        # audit trail).
        *(
            {
                "Id": f"expire-replaced-{area.strip('_/').replace('/', '-')}",
                "Status": "Enabled",
                "Prefix": area,
                "NoncurrentVersionExpiration": {"NoncurrentDays": days},
            }
            for area, days in NONCURRENT_EXPIRY_DAYS.items()
        ),
        {
            "Id": "archive-to-infrequent-access",
            "Status": "Enabled",
            "Prefix": "archive/",
            "Transitions": [{"StorageClass": "STANDARD_IA", "TransitionInDays": 90}],
        },
    ]
    return {
        "DataKey": {
            "Type": "AWS::KMS::Key",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "Description": sub(f"{APP} ${{Stage}}: lake, landing, Athena results, logs, queues"),
                "EnableKeyRotation": True,
                "KeyPolicy": {
                    "Version": "2012-10-17",
                    "Statement": [
                        cfn.account_administers_key(),
                        cfn.service_uses_key(
                            "CloudWatchAlarmsPublishToEncryptedTopic",
                            "cloudwatch.amazonaws.com",
                            ["kms:Decrypt", "kms:GenerateDataKey*"],
                        ),
                        {
                            "Sid": "CloudWatchLogsEncryptsPlatformLogGroups",
                            "Effect": "Allow",
                            "Principal": {"Service": sub("logs.${AWS::Region}.${AWS::URLSuffix}")},
                            "Action": [
                                "kms:Encrypt*",
                                "kms:Decrypt*",
                                "kms:ReEncrypt*",
                                "kms:GenerateDataKey*",
                            ],
                            "Resource": "*",
                            # kms:Describe* carries no encryption context: under this condition it
                            # could never be allowed (parliament, UNKNOWN_CONDITION_FOR_ACTION).
                            "Condition": {
                                "StringLike": {
                                    "kms:EncryptionContext:aws:logs:arn": sub(
                                        "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"
                                    )
                                }
                            },
                        },
                    ],
                },
            },
        },
        "DataKeyAlias": {
            "Type": "AWS::KMS::Alias",
            "Properties": {"AliasName": sub(f"alias/{APP}-${{Stage}}"), "TargetKeyId": ref("DataKey")},
        },
        # Signs the head of each province's sampling audit chain (docs/adr/0095): an HMAC key that
        # never leaves KMS, so write access to the lake is not enough to re-sign a rewritten chain.
        "AuditKey": {
            "Type": "AWS::KMS::Key",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Metadata": skip(
                (
                    "CKV_AWS_7",
                    "HMAC keys cannot be rotated by KMS (EnableKeyRotation is "
                    "for symmetric encryption keys only).",
                )
            ),
            "Properties": {
                "Description": sub(f"{APP} ${{Stage}}: signs the sampling audit chain heads (HMAC)"),
                "KeySpec": "HMAC_256",
                "KeyUsage": "GENERATE_VERIFY_MAC",
                "KeyPolicy": {"Version": "2012-10-17", "Statement": [cfn.account_administers_key()]},
            },
        },
        "AccessLogBucket": {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Metadata": skip(
                ("CKV_AWS_18", "This is the access-log bucket; logging it into itself would loop."),
            ),
            "Properties": {
                "BucketName": sub(f"{APP}-${{Stage}}-access-logs-${{AWS::AccountId}}-${{AWS::Region}}"),
                "VersioningConfiguration": {"Status": "Enabled"},
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                    ]
                },
                "PublicAccessBlockConfiguration": _PUBLIC_BLOCK,
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "LifecycleConfiguration": {
                    "Rules": [
                        {
                            "Id": "expire-access-logs",
                            "Status": "Enabled",
                            "ExpirationInDays": ref("AccessLogRetentionDays"),
                            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
                        }
                    ]
                },
            },
        },
        "AccessLogBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": ref("AccessLogBucket"),
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        _tls_only("AccessLogBucket"),
                        {
                            "Sid": "S3ServerAccessLogDelivery",
                            "Effect": "Allow",
                            "Principal": {"Service": "logging.s3.amazonaws.com"},
                            "Action": "s3:PutObject",
                            "Resource": sub("${AccessLogBucket.Arn}/*"),
                            "Condition": {"StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}},
                        },
                    ],
                },
            },
        },
        "LandingBucket": data_bucket("landing", landing_rules, eventbridge=True),
        "LandingBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": ref("LandingBucket"),
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [_tls_only("LandingBucket")]},
            },
        },
        "LakeBucket": data_bucket("lake", lake_rules, note=retained),
        "LakeBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": ref("LakeBucket"),
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [_tls_only("LakeBucket"), *_records_kept("LakeBucket")],
                },
            },
        },
    }


# -- catalog and query ------------------------------------------------------------------------
def _workgroup(name: str, prefix: str, description: str) -> Json:
    return {
        "Type": "AWS::Athena::WorkGroup",
        "Properties": {
            "Name": sub(f"{APP}-${{Stage}}{name}"),
            "Description": description,
            "RecursiveDeleteOption": False,
            "State": "ENABLED",
            "WorkGroupConfiguration": {
                "EnforceWorkGroupConfiguration": True,
                "PublishCloudWatchMetricsEnabled": True,
                "BytesScannedCutoffPerQuery": ref("AthenaBytesScannedCutoff"),
                "EngineVersion": {"SelectedEngineVersion": "AUTO"},
                "ResultConfiguration": {
                    "OutputLocation": sub(f"s3://${{LakeBucket}}/{prefix}/"),
                    "EncryptionConfiguration": {
                        "EncryptionOption": "SSE_KMS",
                        "KmsKey": getatt("DataKey", "Arn"),
                    },
                },
            },
        },
    }


def catalog() -> Json:
    out: Json = {
        "GlueDatabase": {
            "Type": "AWS::Glue::Database",
            "Properties": {
                "CatalogId": ref("AWS::AccountId"),
                "DatabaseInput": {
                    "Name": sub(f"{APP}_${{Stage}}"),
                    "Description": "Curated datasets and published classifications (generated from schemas/)",
                },
            },
        },
        "PlatformWorkGroup": _workgroup(
            "", PLATFORM_RESULTS, "Monthly classification runs (the platform's functions)"
        ),
        "AuditWorkGroup": _workgroup("-audit", AUDIT_RESULTS, "Auditors' read-only queries of results"),
    }
    for name in DATASETS:
        out[f"Table{_camel(name)}"] = curated_glue_table(name)
    out["TableClassifications"] = classifications_table()
    for t in RESULTS_TABLES:
        out[f"Table{_camel(t.name)}"] = results_glue_table(t)
    return out


def _camel(name: str) -> str:
    return "".join(p.capitalize() for p in name.split("_"))


# -- people: uploaders and auditors -----------------------------------------------------------
def _trust_account() -> Json:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def _kms_via_s3(actions: list[str]) -> Json:
    return {
        "Sid": "UseDataKeyOnlyThroughS3",
        "Effect": "Allow",
        "Action": actions,
        "Resource": getatt("DataKey", "Arn"),
        "Condition": {"StringEquals": {"kms:ViaService": sub("s3.${AWS::Region}.${AWS::URLSuffix}")}},
    }


def uploader_role(province: str) -> Json:
    """Put-only under ``incoming/<PP>/`` of the landing bucket; nothing can be read or listed."""
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "RoleName": sub(f"{APP}-${{Stage}}-uploader-{province}"),
            "Description": f"Province {province} uploads to incoming/{province}/ of the landing bucket",
            "MaxSessionDuration": 3600,
            "AssumeRolePolicyDocument": _trust_account(),
            "Policies": [
                {
                    "PolicyName": "put-own-province-only",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "PutOwnProvince",
                                "Effect": "Allow",
                                "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
                                "Resource": sub(f"${{LandingBucket.Arn}}/incoming/{province}/*"),
                            },
                            _kms_via_s3(["kms:GenerateDataKey", "kms:Decrypt"]),
                            {
                                "Sid": "NeverReadOrDelete",
                                "Effect": "Deny",
                                "Action": [
                                    "s3:GetObject*",
                                    "s3:ListBucket*",
                                    "s3:DeleteObject*",
                                    "s3:PutObjectAcl",
                                    "s3:PutObjectVersionAcl",
                                ],
                                "Resource": "*",
                            },
                        ],
                    },
                }
            ],
        },
    }


_WRITE_ACTIONS_DENIED = [
    "s3:DeleteObject*",
    "s3:PutBucket*",
    "s3:PutLifecycleConfiguration",
    "s3:PutObjectAcl",
    "s3:PutObjectVersionAcl",
    "s3:PutObjectTagging",
    "s3:PutObjectRetention",
    "glue:Create*",
    "glue:Update*",
    "glue:Delete*",
    "glue:BatchCreate*",
    "glue:BatchDelete*",
    "glue:BatchUpdate*",
    "athena:Create*",
    "athena:Update*",
    "athena:Delete*",
]


# Running queries in one workgroup as the caller: what the programs' runner (WranglerRunner in
# functions.classify.engine_athena) needs, for the evaluator as for the functions' roles
# (.chalice/policy-*.json spell it out: JSON has no constants; tests/infra checks they agree). A
# person at the console or a JDBC/ODBC driver (the auditor) also lists the workgroup's query
# history and streams results: ATHENA_QUERY_INTERACTIVE, granted to the auditor only.
ATHENA_QUERY = [
    "athena:StartQueryExecution",
    "athena:StopQueryExecution",
    "athena:GetQueryExecution",
    "athena:GetQueryResults",
    "athena:GetWorkGroup",
]
ATHENA_QUERY_INTERACTIVE = ["athena:GetQueryResultsStream", "athena:ListQueryExecutions"]


GLUE_READ = [  # what Athena needs of the catalog to read a table as the caller
    "glue:GetDatabase",
    "glue:GetDatabases",
    "glue:GetTable",
    "glue:GetTables",
    "glue:GetPartition",
    "glue:GetPartitions",
]


def _glue_arns(*tables: str) -> list[Json]:
    base = "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}"
    return [
        sub(f"{base}:catalog"),
        sub(f"{base}:database/${{GlueDatabase}}"),
        *(sub(f"{base}:table/${{GlueDatabase}}/{t}") for t in tables),
    ]


AUDIT_CHAINS = "audit/??/*"  # a province's sampling audit chain (two digits), not audit/objections


def auditor_prefixes() -> list[str]:
    """What auditors read: the results, and the prefixes of the results tables kept elsewhere
    (the ingest reports, ``schemas/tables.py``)."""
    return ["results", *sorted({t.prefix for t in RESULTS_TABLES if not t.prefix.startswith("results/")})]


def auditor_role() -> Json:
    """Queries published results through Athena; cannot change anything (docs/audit.md)."""
    audit_out = f"${{LakeBucket.Arn}}/{AUDIT_RESULTS}/*"
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "RoleName": sub(f"{APP}-${{Stage}}-auditor"),
            "Description": "Read-only Athena access to published classification results",
            "MaxSessionDuration": 3600,
            "AssumeRolePolicyDocument": _trust_account(),
            "Policies": [
                {
                    "PolicyName": "query-results-read-only",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "RunQueriesInAuditWorkgroup",
                                "Effect": "Allow",
                                "Action": ATHENA_QUERY + ATHENA_QUERY_INTERACTIVE,
                                "Resource": sub(
                                    "arn:${AWS::Partition}:athena:${AWS::Region}:${AWS::AccountId}"
                                    ":workgroup/${AuditWorkGroup}"
                                ),
                            },
                            {
                                "Sid": "ReadResultsCatalog",
                                "Effect": "Allow",
                                "Action": GLUE_READ,
                                # the results tables: warnings, tasks, coverage, ingest
                                # reports, the analysis tables … (schemas/tables.py)
                                "Resource": _glue_arns(
                                    CLASSIFICATIONS_TABLE, *(t.name for t in RESULTS_TABLES)
                                ),
                            },
                            {
                                "Sid": "ReadResults",
                                "Effect": "Allow",
                                "Action": ["s3:GetObject"],
                                "Resource": [sub(f"${{LakeBucket.Arn}}/{p}/*") for p in auditor_prefixes()]
                                + [sub(audit_out)],
                            },
                            {
                                "Sid": "ListResultsAndOwnQueryOutput",
                                "Effect": "Allow",
                                "Action": ["s3:ListBucket"],
                                "Resource": getatt("LakeBucket", "Arn"),
                                "Condition": {
                                    "StringLike": {
                                        "s3:prefix": [f"{p}/*" for p in auditor_prefixes()]
                                        + [f"{AUDIT_RESULTS}/*"]
                                    }
                                },
                            },
                            {
                                # GetBucketLocation never carries s3:prefix: under that condition
                                # it would never be allowed and Athena's bucket lookups would fail.
                                "Sid": "LocateLakeBucket",
                                "Effect": "Allow",
                                "Action": ["s3:GetBucketLocation"],
                                "Resource": getatt("LakeBucket", "Arn"),
                            },
                            {
                                "Sid": "AthenaWritesQueryOutputAsCaller",
                                "Effect": "Allow",
                                "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
                                "Resource": sub(audit_out),
                            },
                            _kms_via_s3(["kms:Decrypt", "kms:GenerateDataKey"]),
                            {
                                # the sampling audit chains (``audit/<PP>/``: records, signed head,
                                # checkpoints), not ``audit/objections`` (docs/adr/0128)
                                "Sid": "ReadSamplingAuditChains",
                                "Effect": "Allow",
                                "Action": ["s3:GetObject"],
                                "Resource": sub(f"${{LakeBucket.Arn}}/{AUDIT_CHAINS}"),
                            },
                            {
                                "Sid": "ListSamplingAuditChains",
                                "Effect": "Allow",
                                "Action": ["s3:ListBucket"],
                                "Resource": getatt("LakeBucket", "Arn"),
                                "Condition": {"StringLike": {"s3:prefix": [AUDIT_CHAINS]}},
                            },
                            {
                                "Sid": "VerifyAuditChainHeads",
                                "Effect": "Allow",
                                "Action": ["kms:VerifyMac"],
                                "Resource": getatt("AuditKey", "Arn"),
                            },
                            {
                                "Sid": "NeverSignAuditChainHeads",
                                "Effect": "Deny",
                                "Action": ["kms:GenerateMac"],
                                "Resource": "*",
                            },
                            {
                                "Sid": "NeverChangeAnything",
                                "Effect": "Deny",
                                "Action": _WRITE_ACTIONS_DENIED,
                                "Resource": "*",
                            },
                            {
                                "Sid": "NeverWriteOutsideQueryOutput",
                                "Effect": "Deny",
                                "Action": ["s3:PutObject"],
                                "NotResource": sub(audit_out),
                            },
                        ],
                    },
                }
            ],
        },
    }


# -- notifications ----------------------------------------------------------------------------
def notifications() -> Json:
    """Inspection-task notifications (docs/adr/0064, 0068): one KMS-encrypted SNS topic the
    monthly and ingest functions publish to; subscribers (e-mail, HTTPS, a province's queue)
    are added per deployment. Publishing requires TLS and this account's principals."""
    return {
        "WarningsTopic": {
            "Type": "AWS::SNS::Topic",
            "Properties": {
                "TopicName": sub(f"{APP}-${{Stage}}-inspection-tasks"),
                "DisplayName": "creditrisk inspection tasks",
                "KmsMasterKeyId": getatt("DataKey", "Arn"),
            },
        },
        "WarningsTopicPolicy": {
            "Type": "AWS::SNS::TopicPolicy",
            "Properties": {
                "Topics": [ref("WarningsTopic")],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "AccountPublishesThroughIam",
                            "Effect": "Allow",
                            "Principal": {"AWS": sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")},
                            "Action": ["sns:Publish", "sns:GetTopicAttributes", "sns:Subscribe"],
                            "Resource": ref("WarningsTopic"),
                        },
                        {
                            "Sid": "DenyInsecureTransport",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "sns:Publish",
                            "Resource": ref("WarningsTopic"),
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        },
                    ],
                },
            },
        },
    }


def alarm_topic() -> Json:
    """Where the application stack's alarms page (issue 12): subscribe the on-call address.

    Encrypted with the data key; CloudWatch may use the key only to publish to this topic."""
    return {
        "AlarmTopic": {
            "Type": "AWS::SNS::Topic",
            "Properties": {
                "TopicName": sub(f"{APP}-${{Stage}}-alarms"),
                "DisplayName": "creditrisk alarms",
                "KmsMasterKeyId": getatt("DataKey", "Arn"),
            },
        },
        "AlarmTopicPolicy": {
            "Type": "AWS::SNS::TopicPolicy",
            "Properties": {
                "Topics": [ref("AlarmTopic")],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "CloudWatchAlarmsPublish",
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudwatch.amazonaws.com"},
                            "Action": "sns:Publish",
                            "Resource": ref("AlarmTopic"),
                            "Condition": {"StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}},
                        },
                        {
                            "Sid": "DenyInsecureTransport",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "sns:Publish",
                            "Resource": ref("AlarmTopic"),
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        },
                    ],
                },
            },
        },
    }


# What ``creditrisk evaluate`` reads besides its own scratch: the curated inputs and their ingest
# reports (a challenger's re-classification reads what the monthly run reads, docs/adr/0150),
# the published classifications and their ``_current.json`` pointers (cut-off, model hash),
# general and per field (``--system FIELD`` backtests a field's results, docs/adr/0154).
EVALUATOR_READS = ("curated", "reports/ingest", "results/classifications", layout.FIELD_RESULTS)


def evaluator_role() -> Json:
    """Runs ``creditrisk evaluate`` in AWS (backtest, champion/challenger, cut-off suggestions;
    docs/adr/0150): an analyst assumes it from a workstation. Queries run in the platform
    workgroup (the re-classification is the monthly run's CTAS, ADR 0139), reads what that
    reads, writes only the backtests scratch and Athena's own output; never publishes, never
    deletes outside the UNLOAD read-back area (the lifecycle rule expires ``backtests/``)."""
    lake = "${LakeBucket.Arn}"
    out_area = f"{lake}/{PLATFORM_RESULTS}/*"
    unload = f"{lake}/{PLATFORM_RESULTS}/unload/*"
    scratch = f"{lake}/{layout.BACKTESTS_PREFIX}/*"
    reads = [f"{p}/*" for p in EVALUATOR_READS]
    tables = [
        CLASSIFICATIONS_TABLE,
        "field_classifications",
        "backtest_classifications",
        *(glue_table_name(name) for name in sorted(DATASETS)),
    ]
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "RoleName": sub(f"{APP}-${{Stage}}-evaluator"),
            "Description": "creditrisk evaluate: backtests and champion/challenger on Athena",
            # a 36-month comparison re-classifies 37 months of a province, one CTAS each
            "MaxSessionDuration": 4 * 3600,
            "AssumeRolePolicyDocument": _trust_account(),
            "Policies": [
                {
                    "PolicyName": "evaluate-backtests",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "RunQueriesInPlatformWorkgroup",
                                "Effect": "Allow",
                                "Action": ATHENA_QUERY,
                                "Resource": sub(
                                    "arn:${AWS::Partition}:athena:${AWS::Region}:${AWS::AccountId}"
                                    ":workgroup/${PlatformWorkGroup}"
                                ),
                            },
                            {
                                "Sid": "ReadInputTables",
                                "Effect": "Allow",
                                "Action": GLUE_READ,
                                "Resource": _glue_arns(*tables),
                            },
                            {
                                # the challenger's CTAS and its DROP (classify.engine_athena)
                                "Sid": "ReclassifyRunTablesOnly",
                                "Effect": "Allow",
                                "Action": ["glue:CreateTable", "glue:DeleteTable", "glue:GetTable"],
                                "Resource": _glue_arns("classify_run_*"),
                            },
                            {
                                "Sid": "ReadInputs",
                                "Effect": "Allow",
                                "Action": ["s3:GetObject"],
                                "Resource": [sub(f"{lake}/{p}") for p in reads],
                            },
                            {
                                "Sid": "ChallengerScratch",
                                "Effect": "Allow",
                                "Action": ["s3:GetObject", "s3:PutObject"],
                                "Resource": sub(scratch),
                            },
                            {
                                "Sid": "AthenaQueryOutput",
                                "Effect": "Allow",
                                "Action": ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
                                "Resource": sub(out_area),
                            },
                            {
                                "Sid": "RemoveUnloadOutputAfterReading",
                                "Effect": "Allow",
                                "Action": ["s3:DeleteObject"],
                                "Resource": sub(unload),
                            },
                            {
                                # Not limited by s3:prefix: a month without a published run has
                                # no ``_current.json``, and S3 answers that read 404 (not 403)
                                # only to a caller with ListBucket, which it judges without an
                                # s3:prefix (found by the rehearsal). Key names only, as for
                                # the classify role; reads stay limited above.
                                "Sid": "ListLakeAndLocateIt",
                                "Effect": "Allow",
                                "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
                                "Resource": getatt("LakeBucket", "Arn"),
                            },
                            _kms_via_s3(["kms:Decrypt", "kms:GenerateDataKey"]),
                            {
                                "Sid": "NeverChangeSetUp",
                                "Effect": "Deny",
                                "Action": [
                                    *(
                                        a
                                        for a in _WRITE_ACTIONS_DENIED
                                        if not a.startswith("glue:") and a != "s3:DeleteObject*"
                                    ),
                                    "s3:DeleteObjectVersion",
                                ],
                                "Resource": "*",
                            },
                            {
                                "Sid": "NeverDeleteOutsideUnloadReadBack",
                                "Effect": "Deny",
                                "Action": ["s3:DeleteObject"],
                                "NotResource": sub(unload),
                            },
                            {
                                "Sid": "NeverChangeOtherTables",
                                "Effect": "Deny",
                                "Action": [a for a in _WRITE_ACTIONS_DENIED if a.startswith("glue:")],
                                "NotResource": _glue_arns("classify_run_*"),
                            },
                            {
                                "Sid": "NeverWriteOutsideScratchAndQueryOutput",
                                "Effect": "Deny",
                                "Action": ["s3:PutObject"],
                                "NotResource": [sub(scratch), sub(out_area)],
                            },
                        ],
                    },
                }
            ],
        },
    }


def people() -> Json:
    out: Json = {f"Uploader{p}": uploader_role(p) for p in sorted(PROVINCES)}
    out["AuditorRole"] = auditor_role()
    out["EvaluatorRole"] = evaluator_role()
    return out


# -- the template -----------------------------------------------------------------------------
PARAMETERS: Json = {
    "Stage": {"Type": "String", "AllowedValues": ["dev", "prod"], "Description": "Deployment stage"},
    "IncomingExpiryDays": {
        "Type": "Number",
        "MinValue": 7,
        "Description": "Days an upload stays in incoming/ (it is archived in the lake on ingest)",
    },
    "AthenaResultsExpiryDays": {"Type": "Number", "MinValue": 1, "Description": "Athena scratch output"},
    "AccessLogRetentionDays": {"Type": "Number", "MinValue": 30, "Description": "S3 access logs"},
    "LogRetentionDays": {"Type": "Number", "MinValue": 1, "Description": "Function log groups"},
    "AthenaBytesScannedCutoff": {
        "Type": "Number",
        "MinValue": 10485760,
        "Description": "Per-query scan limit in bytes (Athena cancels a query beyond it)",
    },
    "ProjectionStartMonth": {
        "Type": "String",
        "AllowedPattern": "^(19|20)[0-9]{2}-(0[1-9]|1[0-2])$",
        "Description": "First month (YYYY-MM) the classifications table projects",
    },
}


def outputs() -> Json:
    def out(value: Json, name: str, description: str) -> Json:
        return {
            "Description": description,
            "Value": value,
            "Export": {"Name": sub(f"{APP}-${{Stage}}-{name}")},
        }

    return {
        "LandingBucket": out(ref("LandingBucket"), "LandingBucket", "Upload bucket (incoming/<PP>/…)"),
        "LakeBucket": out(ref("LakeBucket"), "LakeBucket", "Lake bucket"),
        "DataKeyArn": out(getatt("DataKey", "Arn"), "DataKeyArn", "Customer-managed KMS key"),
        "AuditKeyArn": out(
            getatt("AuditKey", "Arn"), "AuditKeyArn", "KMS HMAC key of the sampling audit chain"
        ),
        "GlueDatabase": out(ref("GlueDatabase"), "GlueDatabase", "Glue database"),
        "PlatformWorkGroup": out(ref("PlatformWorkGroup"), "PlatformWorkGroup", "Athena workgroup (runs)"),
        "AuditWorkGroup": out(ref("AuditWorkGroup"), "AuditWorkGroup", "Athena workgroup (auditors)"),
        "AuditorRoleArn": out(getatt("AuditorRole", "Arn"), "AuditorRoleArn", "Auditor role"),
        "EvaluatorRoleArn": out(
            getatt("EvaluatorRole", "Arn"), "EvaluatorRoleArn", "Role of creditrisk evaluate (backtests)"
        ),
        "LogRetentionDays": out(ref("LogRetentionDays"), "LogRetentionDays", "Function log retention"),
        "WarningsTopicArn": out(ref("WarningsTopic"), "WarningsTopicArn", "SNS topic for inspection tasks"),
        "AlarmTopicArn": out(
            ref("AlarmTopic"), "AlarmTopicArn", "SNS topic the alarms page (subscribe on-call)"
        ),
    }


def build_template() -> Json:
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "creditrisk platform: storage, key, catalog, Athena, uploader and auditor roles "
        "(generated by `python -m infra.platform`; do not edit by hand)",
        "Parameters": PARAMETERS,
        "Resources": {
            **storage(),
            **catalog(),
            **notifications(),
            **alarm_topic(),
            **people(),
            **uploads_notify.resources(),
            **delivery.resources(_trust_account(), _kms_via_s3(["kms:Decrypt"])),
        },
        "Outputs": {**outputs(), **uploads_notify.outputs(), **delivery.outputs()},
    }


def render() -> str:
    header = "# GENERATED by `python -m infra.platform` from schemas/ and functions/layout.py; do not edit.\n"
    return header + cfn.dump(build_template())


def main(argv: list[str] | None = None) -> int:
    return cfn.main(TEMPLATE_PATH, render, "infra.platform", __doc__, argv)


if __name__ == "__main__":
    raise SystemExit(main())
