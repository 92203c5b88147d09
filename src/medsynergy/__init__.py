"""medsynergy: financial synergy in integrated care.

Claims, eligibility and FHIR data in one warehouse (DuckDB by default, Spark at scale);
measures, payment models side by side, care programmes and their evaluation.
"""

from __future__ import annotations

from medsynergy.engine import Warehouse, connect
from medsynergy.errors import MedsynergyError, UserError
from medsynergy.ingest import LoadResult, ingest_file, ingest_paths

__version__ = "0.1.0"

__all__ = [
    "LoadResult",
    "MedsynergyError",
    "UserError",
    "Warehouse",
    "__version__",
    "connect",
    "ingest_file",
    "ingest_paths",
]
