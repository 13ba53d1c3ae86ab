"""The monthly HTML report and the after-classification step (warnings → analysis → report)."""

from functions.report.html import write_report
from functions.report.monthly import after_classification

__all__ = ["after_classification", "write_report"]
