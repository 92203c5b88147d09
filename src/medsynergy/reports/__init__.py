"""Reports: self-contained HTML files of the warehouse (plotly.js embedded, no CDN)."""

from __future__ import annotations

from medsynergy.reports.html import SMALL_CELL, render_report, write_report

__all__ = ["SMALL_CELL", "render_report", "write_report"]
