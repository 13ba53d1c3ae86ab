"""The inspector roster (执法检查人员名录库): loaded from the curated ``inspectors`` dataset and used
to staff sampling plans by region and field (docs/adr/0097)."""
