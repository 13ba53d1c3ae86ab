"""API credentials: bearer tokens stored as salted hashes, scoped to provinces (docs/adr/0043)."""
