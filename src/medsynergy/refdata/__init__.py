"""One registry for versioned reference tables shipped as package data.

Each table lives at ``refdata/<name>/<version>.csv`` next to a ``README.md`` that cites
its public source (a line ``Source: ...``). Column types are declared here, once, in
:data:`SCHEMAS`; every column not declared is read as a string, so codes keep their
leading zeros. ``load(name)`` returns the latest version (natural sort of the version
names); ``available()`` lists what is shipped.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

__all__ = [
    "REFDATA_DIR",
    "SCHEMAS",
    "RefDataNotFoundError",
    "available",
    "load",
    "path_of",
    "versions",
]

REFDATA_DIR = Path(__file__).resolve().parent

_STR = pa.string()
_F64 = pa.float64()
_BOOL = pa.bool_()

#: Declared column types per table name. Columns not listed here are read as strings.
SCHEMAS: dict[str, pa.Schema] = {
    "chronic_condition_codes": pa.schema(
        [
            ("condition", _STR),
            ("icd10cm_code", _STR),
            ("description", _STR),
            ("cms_hcc_v24", _STR),
            ("cms_hcc_v28", _STR),
        ]
    ),
    "chronic_condition_prevalence": pa.schema(
        [
            ("condition", _STR),
            ("ccw_condition", _STR),
            ("data_year", pa.int32()),
            ("prevalence_pct", _F64),
        ]
    ),
    "drug_ndc": pa.schema(
        [
            ("ndc11", _STR),
            ("drug_class", _STR),
            ("drug_name", _STR),
            ("ingredient", _STR),
            ("strength", _F64),
            ("strength_unit", _STR),
            ("dosage_form", _STR),
            ("labeler", _STR),
            ("is_opioid", _BOOL),
            ("oud_treatment", _BOOL),
            ("mme_conversion_factor", _F64),
            ("source_file", _STR),
            ("typical_units_per_day", _F64),
            ("approx_unit_cost_usd", _F64),
        ]
    ),
    "service_prices": pa.schema(
        [
            ("hcpcs_code", _STR),
            ("setting", _STR),
            ("description", _STR),
            ("category", _STR),
            ("approx_allowed_usd", _F64),
            ("basis", _STR),
        ]
    ),
    "medicare_rates": pa.schema(
        [
            ("item", _STR),
            ("year", pa.int32()),
            ("amount_usd", _F64),
            ("unit", _STR),
            ("description", _STR),
            ("source", _STR),
        ]
    ),
    "ms_drg": pa.schema(
        [
            ("drg_code", _STR),
            ("description", _STR),
            ("mdc", _STR),
            ("drg_type", _STR),
            ("relative_weight", _F64),
            ("geometric_mean_los", _F64),
            ("arithmetic_mean_los", _F64),
            ("medicare_discharges", pa.int32()),
            ("principal_dx_icd10", _STR),
            ("principal_pcs", _STR),
        ]
    ),
    "readmission_rules": pa.schema(
        [
            ("list", _STR),
            ("group", _STR),
            ("code_type", _STR),
            ("code", _STR),
            ("weight", pa.int32()),
            ("description", _STR),
        ]
    ),
    "promis_global_health": pa.schema(
        [
            ("scale", _STR),
            ("raw_score", pa.int32()),
            ("t_score", _F64),
            ("standard_error", _F64),
        ]
    ),
}


class RefDataNotFoundError(FileNotFoundError):
    """A reference table (name or version) that is not shipped; lists what is."""


def _version_key(version: str) -> tuple[tuple[int, object], ...]:
    parts = re.split(r"(\d+)", version)
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts if p)


def _names() -> list[str]:
    return sorted(p.name for p in REFDATA_DIR.iterdir() if p.is_dir() and any(p.glob("*.csv")))


def versions(name: str) -> list[str]:
    """Shipped versions of one table, oldest first."""
    folder = REFDATA_DIR / name
    if not folder.is_dir() or not any(folder.glob("*.csv")):
        shipped = ", ".join(_names()) or "(none)"
        raise RefDataNotFoundError(
            f"no reference table named {name!r}; looked in {folder}. Available tables: {shipped}"
        )
    return sorted((p.stem for p in folder.glob("*.csv")), key=_version_key)


def path_of(name: str, version: str | None = None) -> Path:
    """Path of the CSV for (name, version); latest version when ``version`` is None."""
    shipped = versions(name)
    chosen = shipped[-1] if version is None else version
    path = REFDATA_DIR / name / f"{chosen}.csv"
    if chosen not in shipped or not path.is_file():
        raise RefDataNotFoundError(
            f"no version {chosen!r} of reference table {name!r}; looked for {path}. "
            f"Available versions: {', '.join(shipped)}"
        )
    return path


def _source(name: str) -> str:
    readme = REFDATA_DIR / name / "README.md"
    if readme.is_file():
        for line in readme.read_text(encoding="utf-8").splitlines():
            stripped = line.strip().lstrip("-* ")
            if stripped.lower().startswith("source:"):
                return stripped.split(":", 1)[1].strip()
    return ""


def available() -> list[tuple[str, str, str]]:
    """Every shipped table as ``(name, version, source)``."""
    return [(n, v, _source(n)) for n in _names() for v in versions(n)]


def load(name: str, version: str | None = None) -> pa.Table:
    """Load one reference table with its declared column types (undeclared: string)."""
    path = path_of(name, version)
    with path.open(encoding="utf-8", newline="") as fh:
        names = next(csv.reader(fh))
    declared = SCHEMAS.get(name, pa.schema([]))
    types = {col: (declared.field(col).type if col in declared.names else _STR) for col in names}
    return pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(
            column_types=types,
            strings_can_be_null=True,
            null_values=[""],
            true_values=["true"],
            false_values=["false"],
        ),
    )
