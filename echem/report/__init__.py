"""The lab report: one self-contained HTML file. It only presents results; it computes nothing."""
from echem.report.html import ReportData, render

__all__ = ["ReportData", "render"]
