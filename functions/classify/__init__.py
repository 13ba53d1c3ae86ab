"""Monthly credit-risk classification (issue 3): indicator systems compiled to one Trino SQL,
run on DuckDB or Athena, published atomically under ``results/classifications/``.

Import from the submodules (``functions.classify.run``, ``.load``, ``.explain`` …): the package
re-exports nothing, so a light submodule (``system``, ``gating``) does not pull in DuckDB, sqlglot
and pandas through this file (docs/adr/0159)."""
