"""Collapsing claim lines to their final action, across loads.

The rule (docs/ingest.md, "Claim adjustments"):

1. The versions of a key (claim_id, claim_line_number, data_source) are every row with
   that key: the rows of this load, the key's current final row, and its superseded rows.
2. They are ordered by the table's version columns: paid_date, then
   adjustment_sequence_number (a missing value is older than any), then reversals after
   non-reversals. Tables without version columns (eligibility, provider, observation) are
   ordered by load time: a later load replaces an earlier row with the same key.
3. Two versions that tie on all of these cannot be ordered. Exact copies within one file:
   the first loads, the others are quarantined (duplicate_row). Otherwise every incoming
   row of the tie is quarantined (duplicate_key): the same version is already loaded, or
   the file holds conflicting contents for it.
4. The latest version is the final action and goes to the table, unless it is a reversal:
   then the line was cancelled and has no final row. Every other version goes to
   `<table>_superseded` with its reason (replaced, reversal, reversed).

Reversal lines net out this way whichever convention the source follows (reversals with
negated amounts, or replacements with full amounts): sums over the final table count each
line once, at its final value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from medsynergy.engine import Warehouse
from medsynergy.schema import Table, superseded_table

ORIGIN = "_origin"  # 0: a row of this load; 1: a row already in the warehouse
CONTENT = "_content"  # fingerprint of an incoming row's text, to tell copies from conflicts
IS_REVERSAL = "_is_reversal"
KEY_HASH = "_key_hash"
DUP = "_duplicate_rule"
# A stored row is identified by the load that wrote it and its row in that file.
IDENTITY = ("load_id", "row_number")


@dataclass(frozen=True)
class Incoming:
    """The rows of a load that passed the checks, three ways."""

    rows: ir.Table  # every table column, typed
    versions: ir.Table  # key, version columns, load_id, row_number, IS_REVERSAL, CONTENT
    flags: ir.Table  # row_number, KEY_HASH, IS_REVERSAL (stored: cheap to read twice)


@dataclass(frozen=True)
class Collapsed:
    touched_keys: ir.Table  # the keys whose rows are rewritten
    final: ir.Table  # new final rows (table columns)
    superseded: ir.Table  # new superseded rows (superseded-table columns)
    duplicates: ir.Table  # row_number, rule, message: incoming rows to quarantine
    temporary: tuple[str, ...]  # temp tables to drop afterwards
    # True: no key of the load is in the warehouse, none comes twice and none is a
    # reversal, so every incoming row is final and nothing else changes (no superseded
    # rows, duplicates or rows to delete): the usual first load of a large file
    fresh: bool = False


def reversal(adjustment_type: ir.Value | None) -> ir.BooleanValue:
    """Whether a line is a reversal, from its normalised adjustment_type_code."""
    if adjustment_type is None:
        return ibis.literal(False)
    return (adjustment_type == "reversal").fill_null(False)


def version_columns(table: Table) -> tuple[str, ...]:
    return table.version_order or ("ingest_datetime",)


def _on_keys(left: ir.Table, keys: ir.Table, key: Sequence[str]) -> ir.Table:
    # Null-safe: eligibility.plan may be null and is part of the key.
    return left.semi_join(keys, [left[k].identical_to(keys[k]) for k in key])


def _key_text(t: ir.Table, key: Sequence[str]) -> ir.StringValue:
    parts = [ibis.literal(f"{k}=").concat(t[k].cast("string").fill_null("")) for k in key]
    return ibis.literal(", ").join(parts)


def _like(t: ir.Table, schema: ibis.Schema) -> ir.Table:
    """`t` with the types of `schema` (a stored table's timestamp(6) for a literal's
    timestamp: same values, but set operations need equal schemas)."""
    return t.select(**{c: t[c].cast(typ) for c, typ in schema.items()})


def _is_fresh(wh: Warehouse, table: Table, flags: ir.Table,
              replaced_load_ids: Sequence[str]) -> bool:
    """Collapsed.fresh: decided on counts and on the stored flags, never on the rows."""
    if replaced_load_ids or wh.count(table.name) or wh.count(superseded_table(table).name):
        return False
    if bool(wh.scalar(flags[IS_REVERSAL].any().fill_null(False))):
        return False
    repeated = flags.group_by(KEY_HASH).aggregate(n=flags.count()).filter(lambda t: t.n > 1)
    return int(wh.scalar(repeated.count())) == 0


def collapse(wh: Warehouse, table: Table, incoming: Incoming, load_id: str,
             replaced_load_ids: Sequence[str] = ()) -> Collapsed:
    """Versions of the keys in `incoming` (and of replaced loads) -> final and superseded rows.

    Versions are ranked on a narrow table (key, version columns, identity) and the
    decisions joined back to the full rows, so the window sorts move a few columns, not
    all of them. Every read of existing rows happens here, into temporary tables, before
    any write: the writes then apply atomically. A fresh load (Collapsed.fresh) skips all
    of it: its rows are the final rows.
    """
    key = list(table.key)
    cols = list(table.column_names)
    vcols = list(version_columns(table))
    narrow = list(dict.fromkeys([*key, *vcols, *IDENTITY]))
    sup = superseded_table(table)
    if _is_fresh(wh, table, incoming.flags, replaced_load_ids):
        nothing = incoming.versions.filter(ibis.literal(False))
        return Collapsed(
            touched_keys=nothing.select(key), final=incoming.rows.select(cols),
            superseded=incoming.rows.filter(ibis.literal(False)).select(
                *cols, superseded_reason=ibis.null("string")),
            duplicates=nothing.select("row_number", rule=ibis.null("string"),
                                      message=ibis.null("string")),
            temporary=(), fresh=True)
    current, older = wh.table(table.name), wh.table(sup.name)
    tmp = [f"_{n}_{load_id}" for n in ("touched", "existing", "versions", "decisions")]

    touched = incoming.versions.select(key)
    if replaced_load_ids:
        old = list(replaced_load_ids)
        touched = touched.union(current.filter(current.load_id.isin(old)).select(key))
        touched = touched.union(older.filter(older.load_id.isin(old)).select(key))
    touched = wh.materialize(tmp[0], touched.distinct())

    def existing_rows(t: ir.Table) -> ir.Table:
        rows = _on_keys(t, touched, key)
        if replaced_load_ids:
            rows = rows.filter(~rows.load_id.isin(list(replaced_load_ids)))
        return rows.select(cols)

    # Usually empty on a first load; copied now because the writes will delete these rows.
    existing = wh.materialize(tmp[1], existing_rows(current).union(existing_rows(older)))

    arriving = incoming.versions
    versions = arriving.select(*narrow, **{ORIGIN: ibis.literal(0), IS_REVERSAL: arriving[IS_REVERSAL],
                                           CONTENT: arriving[CONTENT].cast("int64")})
    other = existing.select(
        *narrow, **{ORIGIN: ibis.literal(1),
                    IS_REVERSAL: reversal(existing.adjustment_type_code
                                          if "adjustment_type_code" in cols else None),
                    CONTENT: ibis.null("int64")})
    versions = _like(versions, other.schema()).union(other)

    # Without version columns every incoming row is later than every stored one (rule 2),
    # even when both loads started within the same second: only incoming rows can tie.
    by_load = [] if table.version_order else [ORIGIN]
    tie = ibis.window(group_by=[*key, *vcols, *by_load, IS_REVERSAL])
    n = versions[ORIGIN].count().over(tie)
    n_existing = versions[ORIGIN].sum().over(tie)
    contents_differ = versions[CONTENT].min().over(tie) != versions[CONTENT].max().over(tie)
    first_row = ibis.ifelse(versions[ORIGIN] == 0, versions.row_number, ibis.null("int64")) \
        .min().over(tie)
    dup_rule = ibis.cases(
        (versions[ORIGIN] == 1, ibis.null("string")),
        (n == 1, ibis.null("string")),
        (n_existing > 0, ibis.literal("duplicate_key")),
        (contents_differ.fill_null(False), ibis.literal("duplicate_key")),
        (versions.row_number == first_row, ibis.null("string")),
        else_=ibis.literal("duplicate_row"),
    )
    flagged = wh.materialize(tmp[2], versions.mutate(
        **{DUP: dup_rule, "_n_existing": n_existing, "_first_row": first_row}
    ))

    keep = flagged.filter(flagged[DUP].isnull())
    order = [
        *(ibis.asc(keep[c]) for c in by_load),
        *(ibis.desc(keep[c], nulls_first=False) for c in vcols),
        ibis.desc(keep[IS_REVERSAL]),
        ibis.asc(keep[ORIGIN]),  # an incoming row outranks an existing one (no-version tables)
        ibis.desc(keep.load_id),
        ibis.desc(keep.row_number),
    ]
    ranked = keep.mutate(_rank=ibis.row_number().over(group_by=key, order_by=order))
    ranked = ranked.mutate(
        _top_is_reversal=ibis.ifelse(ranked._rank == 0, ranked[IS_REVERSAL], False)
        .max().over(group_by=key)
    )
    decisions = wh.materialize(tmp[3], ranked.select(
        *IDENTITY, ORIGIN, IS_REVERSAL,
        _final=(ranked._rank == 0) & ~ranked[IS_REVERSAL],
        _reason=ibis.cases(
            (ranked[IS_REVERSAL], ibis.literal("reversal")),
            (ranked._top_is_reversal, ibis.literal("reversed")),
            else_=ibis.literal("replaced"),
        ),
    ))
    rows = _like(incoming.rows.select(cols), existing.schema()).union(existing)
    joined = rows.join(decisions, list(IDENTITY))
    final = joined.filter(joined._final).select(cols)
    superseded = joined.filter(~joined._final).select(*cols, superseded_reason=joined._reason)

    dups = flagged.filter(flagged[DUP].notnull())
    message = ibis.cases(
        (dups[DUP] == "duplicate_row",
         ibis.literal("exact copy of row ").concat(dups._first_row.cast("string"),
                                                   " (same key, version and contents)")),
        (dups._n_existing > 0,
         ibis.literal("the same version is already loaded: ").concat(_key_text(dups, [*key, *vcols]))),
        else_=ibis.literal("conflicting rows with the same key and version: ")
        .concat(_key_text(dups, [*key, *vcols])),
    )
    duplicates = dups.select("row_number", rule=dups[DUP], message=message)
    return Collapsed(touched_keys=touched, final=final, superseded=superseded,
                     duplicates=duplicates, temporary=tuple(tmp))
