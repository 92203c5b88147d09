"""docs/schema.md, generated from the table definitions (a test fails when it is stale).

Regenerate with `python -m medsynergy.schema.docs > docs/schema.md` (or `make docs`).
"""

from __future__ import annotations

from medsynergy.schema import ALL_TABLES, INPUT_TABLES, Table


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_table(t: Table) -> str:
    lines = [f"## `{t.name}`", "", _escape(t.doc), "", f"- Grain: {t.grain}"]
    if t.key:
        lines.append(f"- Key: {', '.join(f'`{k}`' for k in t.key)}")
    if t.version_order:
        lines.append(f"- Versions ordered by: {', '.join(f'`{k}`' for k in t.version_order)}")
    if t.source:
        lines.append(f"- Layout: {t.source}")
    lines += ["", "| column | type | required | role | description |", "|---|---|---|---|---|"]
    for c in t.columns:
        role = c.role.value + (" (extension)" if c.extension else "")
        lines.append(f"| `{c.name}` | {c.sql_type} | {'yes' if c.required else ''} | {role} "
                     f"| {_escape(c.doc)} |")
    return "\n".join(lines)


def render_markdown() -> str:
    parts = [
        "# Canonical schema",
        "",
        "Generated from `src/medsynergy/schema/` by `python -m medsynergy.schema.docs`; do not edit.",
        "",
        "The input tables use the column names and grain of the Tuva Project input layer; "
        "medsynergy extends them (columns marked *extension*) and never renames them. Money is "
        "DECIMAL(18,2). Every loaded row carries its lineage: `data_source`, `file_name`, "
        "`load_id` (and `row_number`, its row in that file).",
        "",
        "Input tables: " + ", ".join(f"`{t.name}`" for t in INPUT_TABLES) + ".",
        "",
    ]
    parts += [render_table(t) + "\n" for t in ALL_TABLES]
    return "\n".join(parts)


if __name__ == "__main__":
    import sys

    sys.stdout.write(render_markdown())
