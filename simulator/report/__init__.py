"""The scenario report: plotly figures and one self-contained HTML file (fr/en).

Built from tidy result folders only (metrics/personas/flows parquet, manifest,
territory/stories/contributions JSON); nothing here imports the model.

>>> from simulator.report import build_report             # doctest: +SKIP
>>> build_report(["results/sweep"], "report.html", lang="fr")
"""
from .build import build_report, render
from .data import ReportData, find_run_folders, load
from .export import check_export, export_figures

__all__ = ["build_report", "render", "load", "find_run_folders", "ReportData", "export_figures", "check_export"]
