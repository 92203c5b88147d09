"""Tabular ingest: CSV and Parquet in the input-layer layout -> canonical tables."""

from __future__ import annotations

from medsynergy.ingest.load import LoadResult, ingest_file, ingest_paths
from medsynergy.ingest.rules import RULES, Rule, Severity

__all__ = ["RULES", "LoadResult", "Rule", "Severity", "ingest_file", "ingest_paths"]
