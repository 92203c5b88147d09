"""Marts: engine-portable Ibis expressions over the canonical tables, one module per family."""

from __future__ import annotations

from medsynergy.marts.claims_by_month import claims_by_month

__all__ = ["claims_by_month"]
