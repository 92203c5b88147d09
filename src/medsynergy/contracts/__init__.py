"""Payment models: contract terms (pydantic, from YAML) -> reconciliations (immutable
results with every step, its value and the rule it applied, citing its source).

Pure Python on aggregates: a reconciliation reads sums per contract, provider or
member-year that the marts computed, never claim lines."""
