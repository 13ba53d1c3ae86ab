"""The full monthly result delivered to inspection platforms (名录库对接): the paged bulk read and
the change feed (issue 14, docs/adr/0114)."""
