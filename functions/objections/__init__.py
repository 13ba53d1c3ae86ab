"""Objections (异议处理) and manual class adjustments (人工调整), each with an append-only audit
trail (issue 14, docs/adr/0112, docs/adr/0113)."""
