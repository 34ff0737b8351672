"""The report a person looks at: ``index.html`` and ``report.json`` with the metric table, FID against sample
count, nearest neighbours, memorization, realism extremes and coverage misses (``build_report``), or the curves
and latest snapshot of a training run (``build_run_report``)."""

from ganmetrics.report.build import build_report
from ganmetrics.report.content import ImageFile, ReportOptions, ReportSide
from ganmetrics.report.run import build_run_report
from ganmetrics.report.sources import report

__all__ = ["ImageFile", "ReportOptions", "ReportSide", "build_report", "build_run_report", "report"]
