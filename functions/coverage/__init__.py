"""Data coverage (数据完整性): which datasets a province ever delivered, up to which date, which
report years of annual reports, and the requirements rules declare on it (docs/adr/0104)."""
