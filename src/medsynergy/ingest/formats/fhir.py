"""FHIR R4 (and Blue Button STU3) exports -> the canonical input tables
(docs/formats_fhir.md).

Reads Bundles (transaction, collection, searchset, batch), single resources (a Blue
Button `eobReadCarrier.json`) and Bulk Data NDJSON (`Type.000.ndjson`, one resource a
line), plain or gzipped, in one streaming pass: a `.json` file is parsed whole (a Bundle
cannot be split), an NDJSON file a line at a time, and no file is kept once converted.
Files are converted in parallel (whole files per worker process) and merged in file order,
so the output does not depend on the number of workers.

References: inside a Bundle `urn:uuid:` and full URLs resolve by `fullUrl` (a Bundle is
self-contained for them); `Type/id` and Synthea's conditional references
(`Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|NPI`) resolve against an index of
the resource types mappers look up across files (`INDEX_TYPES`), built in a first pass
over the files that can hold them (`fhir_read._needs_index`), kept as compact JSON
bytes. Reading and the reference index are in `fhir_read`; the Patient, Coverage and
provider mappers and the eligibility spans in `fhir_people`.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from medsynergy.ingest.formats import Converted, Count, Derived, Rejected, columns_to_table
from medsynergy.ingest.formats.fhir_people import PROVIDER_COLUMNS, finish_eligibility
from medsynergy.ingest.formats.fhir_read import (
    FHIR_TYPES,
    INDEX_TYPES,
    Index,
    _convert_files,
    _index_file,
    _needs_index,
    _plan,
    _Result,
    _set_index,
    is_fhir,
)

# --- parallel driver ---------------------------------------------------------------------

def _chunks(files: Sequence[tuple[Path, str]], workers: int) -> list[list[tuple[int, str, str]]]:
    """Consecutive files grouped to about 8 tasks per worker by size (file order kept)."""
    sizes = [max(p.stat().st_size, 1) for p, _ in files]
    target = max(sum(sizes) / max(workers * 8, 1), 1)
    out: list[list[tuple[int, str, str]]] = []
    cur: list[tuple[int, str, str]] = []
    acc = 0.0
    for i, ((p, name), size) in enumerate(zip(files, sizes, strict=True)):
        cur.append((i, str(p), name))
        acc += size
        if acc >= target:
            out.append(cur)
            cur, acc = [], 0.0
    if cur:
        out.append(cur)
    return out


def _context() -> Any:
    # fork shares the reference index with the workers without copying it (Linux);
    # elsewhere the index is sent to each worker once (initializer).
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else None)


def _build_index(files: Sequence[tuple[Path, str]], pool: ProcessPoolExecutor | None) -> Index:
    wanted = [str(p) for p, _ in files if _needs_index(p)]
    parts = list(pool.map(_index_file, wanted)) if pool is not None and len(wanted) > 1 \
        else [_index_file(w) for w in wanted]
    docs: dict[str, bytes] = {}
    idents: dict[str, str] = {}
    for d, i in parts:  # first wins, in file order
        for k, v in d.items():
            docs.setdefault(k, v)
        for k, s in i.items():
            idents.setdefault(k, s)
    return docs, idents


def convert_fhir(paths: Sequence[Path], *, workers: int | None = None,
                 progress: Callable[[int, int], None] | None = None) -> Converted:
    """Convert FHIR files / folders (see the module docstring and docs/formats_fhir.md)."""
    plan = _plan([Path(p) for p in paths])
    files = plan.files
    n_workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
    parallel = n_workers > 1 and len(files) > 1
    results: list[_Result] = []
    if parallel:
        ctx = _context()
        with ProcessPoolExecutor(n_workers, mp_context=ctx) as pool:
            index = _build_index(files, pool)
        _set_index(index)
        jobs = _chunks(files, n_workers)
        fork = ctx.get_start_method() == "fork"
        init: Callable[..., None] | None = None if fork else _set_index
        args: tuple[Any, ...] = () if fork else (index,)
        with ProcessPoolExecutor(n_workers, mp_context=ctx, initializer=init,
                                 initargs=args) as pool:
            futures = [pool.submit(_convert_files, job) for job in jobs]
            done = 0
            for fut, job in zip(futures, jobs, strict=True):
                results.append(fut.result())
                done += len(job)
                if progress is not None:
                    progress(done, len(files))
    else:
        _set_index(_build_index(files, None))
        done = 0
        for job in _chunks(files, 1):
            results.append(_convert_files(job))
            done += len(job)
            if progress is not None:
                progress(done, len(files))
    _set_index(({}, {}))
    return _merge(results, [name for _, name in files], plan.notes)


# --- merge -------------------------------------------------------------------------------

def _concat(tables: list[pa.Table]) -> pa.Table:
    return pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]


def _merge(results: list[_Result], names: list[str], notes: list[str]) -> Converted:
    counts: dict[tuple[int, str, str | None], list[int]] = {}
    rejected: list[Rejected] = []
    by_table: dict[str, list[pa.Table]] = {}
    for res in results:
        for k, v in res.counts.items():
            c = counts.setdefault(k, [0, 0, 0, 0])
            for i in range(4):
                c[i] += v[i]
        rejected.extend(res.rejected)
        for name, t in res.tables.items():
            by_table.setdefault(name, []).append(t)
    tables = {name: _concat(ts) for name, ts in by_table.items()}
    derived: list[Derived] = []
    notes = list(notes)

    panels = dict(p for res in results for p in res.panels)
    if panels and "observation" in tables:
        tables["observation"] = _fill_panels(tables["observation"], panels)

    providers = _concat([r.providers for r in results])
    if providers.num_rows:
        tables["provider"], dropped = _dedupe_providers(providers)
        for fno, rtype in dropped:
            counts[(fno, rtype, None)][1] -= 1
            c = counts.setdefault((fno, rtype, "same NPI as a provider row already converted "
                                               "(provider rows are keyed by NPI)"), [0, 0, 0, 0])
            c[0] += 1
            c[3] += 1
            counts[(fno, rtype, None)][0] -= 1
        if dropped:
            notes.append(f"{len(dropped)} Practitioner/Organization resources repeat an NPI "
                         "already converted: one provider row per NPI (the first in file order)")
    roles = _concat([r.roles for r in results])
    if roles.num_rows:
        provider = tables.get("provider")
        enriched, unmatched = _apply_roles(provider, roles)
        if provider is not None:
            tables["provider"] = enriched
        for fno in unmatched:
            key = (fno, "PractitionerRole", None)
            counts[key][0] -= 1
            counts[key][1] -= 1
            c = counts.setdefault((fno, "PractitionerRole", "no Practitioner with its NPI in "
                                                           "the export"), [0, 0, 0, 0])
            c[0] += 1
            c[3] += 1

    spans = _concat([r.spans for r in results])
    patients = _concat([r.patients for r in results])
    if spans.num_rows or patients.num_rows or "medical_claim" in tables \
            or "pharmacy_claim" in tables:
        elig = finish_eligibility(spans, patients, tables)
        if elig.table.num_rows:
            tables["eligibility"] = elig.table
        derived.extend(elig.derived)
        notes.extend(elig.notes)
        for row in elig.unplaced.to_pylist():
            fno, loc = int(row["_file"]), int(row["_loc"])
            rtype = row["_type"] or "Coverage"
            counts[(fno, rtype, None)][1] -= 1
            counts[(fno, rtype, None)][2] += 1
            rejected.append(Rejected(names[fno], loc, rtype, "source_required_missing",
                                     "Coverage has no period.start, no reference year and the "
                                     "export holds no date for its person",
                                     row["_raw"] or ""))
    out_counts: list[Count] = []
    for (fno, rtype, reason), (n, conv, quar, skip) in sorted(
            counts.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or "")):
        if n == 0:
            continue
        out_counts.append(Count(names[fno], rtype, n, conv, quar, skip, reason))
    order = {n: i for i, n in enumerate(names)}
    rejected.sort(key=lambda r: (order.get(r.file_name, -1), r.location))
    return Converted(tables, tuple(out_counts), tuple(rejected), tuple(derived), tuple(notes))


def _fill_panels(obs: pa.Table, panels: Mapping[str, str]) -> pa.Table:
    """panel_id of member Observations sent as resources of their own (the panel's
    hasMember names them), set-based: a member may come before its panel, or in another
    file."""
    keys = pa.array(list(panels), pa.string())
    values = pa.array(list(panels.values()), pa.string())
    pos = pc.index_in(obs.column("observation_id"), value_set=keys)
    found = pc.take(values, pos)
    current = obs.column("panel_id")
    filled = pc.coalesce(current, found)
    return obs.set_column(obs.schema.get_field_index("panel_id"), "panel_id", filled)


def _apply_roles(provider: pa.Table | None, roles: pa.Table
                 ) -> tuple[pa.Table | None, list[int]]:
    """Fill the provider rows' specialty, taxonomy_code, organization_id / _name from the
    first PractitionerRole (file order) naming their NPI; the file numbers of the roles
    whose NPI has no provider row."""
    first: dict[str, dict[str, Any]] = {}
    npis = set() if provider is None else set(provider.column("npi").to_pylist())
    unmatched: list[int] = []
    for role in roles.to_pylist():
        if role["npi"] not in npis:
            unmatched.append(int(role["_file"]))
        else:
            first.setdefault(role["npi"], role)
    if provider is None or not first:
        return provider, unmatched
    keys = provider.column("npi")
    for col in ("specialty", "taxonomy_code", "organization_id", "organization_name"):
        values = pa.array([(first.get(n) or {}).get(col) for n in keys.to_pylist()], pa.string())
        idx = provider.schema.get_field_index(col)
        provider = provider.set_column(idx, col, pc.coalesce(provider.column(col), values))
    return provider, unmatched


def _dedupe_providers(providers: pa.Table) -> tuple[pa.Table, list[tuple[int, str]]]:
    """One provider row per NPI (the first in file order); the (file, type) of the others."""
    seen: set[str] = set()
    keep: list[int] = []
    dropped: list[tuple[int, str]] = []
    npis = providers.column("npi").to_pylist()
    files = providers.column("_file").to_pylist()
    types = providers.column("_type").to_pylist()
    for i, npi in enumerate(npis):
        if npi in seen:
            dropped.append((int(files[i]), str(types[i])))
        else:
            seen.add(npi)
            keep.append(i)
    kept = providers.take(pa.array(keep, pa.int64()))
    return columns_to_table("provider", {c: kept.column(c) for c in PROVIDER_COLUMNS}), dropped


__all__ = ["FHIR_TYPES", "INDEX_TYPES", "convert_fhir", "is_fhir"]
