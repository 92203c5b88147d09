"""Synthetic population generator: input-layer Parquet files of any size, deterministic.

    generate(out_dir, members=20_000, years=(2023, 2025), seed=1)

writes eligibility.parquet and provider.parquet (claims follow), plus aco.json (the ACO's
participant TINs) and manifest.json (the arguments and row counts). See docs/generator.md.
"""

from __future__ import annotations

from medsynergy.synth.build import GenerateResult, Population, generate, parse_years

__all__ = ["GenerateResult", "Population", "generate", "parse_years"]
