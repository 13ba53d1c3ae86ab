"""Data contracts: one pydantic model per dataset; Arrow schemas and JSON Schemas derive from them."""

from schemas.arrow import arrow_schema, curated_schema
from schemas.datasets import DATASETS, DatasetSpec, FieldSpec, dataset

__all__ = ["DATASETS", "DatasetSpec", "FieldSpec", "arrow_schema", "curated_schema", "dataset"]
