"""Write a synthetic population as input-layer Parquet files.

Members are generated in fixed chunks of CHUNK_MEMBERS, each from its own random stream
(numpy SeedSequence(seed, spawn_key=(PEOPLE, chunk index))), and streamed to Parquet one
chunk per row group, so memory stays flat and the same arguments give byte-identical files.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from medsynergy.errors import ConfigError
from medsynergy.synth import targets as T
from medsynergy.synth.people import (
    ELIGIBILITY_SCHEMA,
    People,
    Period,
    commercial_people,
    eligibility_rows,
    medicare_people,
)
from medsynergy.synth.providers import ACO_ID, ACO_NAME, providers

CHUNK_MEMBERS = 100_000
PEOPLE_STREAM, PROVIDER_STREAM = 1, 2
MIN_YEAR, MAX_YEAR = 1990, 2100
Progress = Callable[[int, int], None]  # (members done, members total)


class Population(StrEnum):
    medicare = "medicare"
    commercial = "commercial"
    mixed = "mixed"


@dataclass(frozen=True)
class GenerateResult:
    out_dir: str
    members: int
    first_year: int
    last_year: int
    seed: int
    population: str
    eligibility_rows: int
    provider_rows: int
    aco_participants: int


def parse_years(text: str) -> tuple[int, int]:
    """'2023-2025' -> (2023, 2025); '2024' -> (2024, 2024)."""
    m = re.fullmatch(r"\s*(\d{4})\s*(?:-\s*(\d{4})\s*)?", text)
    if not m:
        raise ConfigError(f"--years {text!r} is not a year or a range like 2023-2025")
    first, last = int(m.group(1)), int(m.group(2) or m.group(1))
    if last < first:
        raise ConfigError(f"--years {text!r} runs backwards; write {last}-{first}")
    if first < MIN_YEAR or last > MAX_YEAR:
        raise ConfigError(f"--years {text!r} is outside {MIN_YEAR}-{MAX_YEAR}")
    return first, last


def _check(members: int, seed: int) -> None:
    if members <= 0:
        raise ConfigError(f"--members must be a positive number of members, got {members}")
    if seed < 0:
        raise ConfigError(f"--seed must be zero or positive, got {seed}")


def _chunk(seed: int, index: int, n: int, first: int, population: Population,
           period: Period) -> list[People]:
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(PEOPLE_STREAM, index)))
    if population is Population.medicare:
        return [medicare_people(rng, n, first, period)]
    if population is Population.commercial:
        return [commercial_people(rng, n, first, period)]
    n_med = round(n * T.MIXED_MEDICARE_SHARE)
    return [medicare_people(rng, n_med, first, period),
            commercial_people(rng, n - n_med, first + n_med, period)]


def generate(out_dir: str | Path, *, members: int, years: tuple[int, int], seed: int = 0,
             population: Population | str = Population.medicare,
             progress: Progress | None = None) -> GenerateResult:
    """Write eligibility.parquet, provider.parquet and aco.json to `out_dir`."""
    _check(members, seed)
    population = Population(population)
    first_year, last_year = years
    if last_year < first_year:
        raise ConfigError(f"years {first_year}-{last_year} run backwards")
    period = Period(first_year, last_year)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    elig_path, tmp = out / "eligibility.parquet", out / ".eligibility.parquet.tmp"
    n_rows = 0
    with pq.ParquetWriter(tmp, ELIGIBILITY_SCHEMA, compression="zstd") as writer:
        for index, first in enumerate(range(0, members, CHUNK_MEMBERS)):
            n = min(CHUNK_MEMBERS, members - first)
            for people in _chunk(seed, index, n, first + 1, population, period):
                table = eligibility_rows(people, period)
                writer.write_table(table)
                n_rows += table.num_rows
            if progress:
                progress(first + n, members)
    os.replace(tmp, elig_path)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(PROVIDER_STREAM,)))
    prov, participants = providers(rng, members)
    tmp = out / ".provider.parquet.tmp"
    pq.write_table(prov, tmp, compression="zstd")
    os.replace(tmp, out / "provider.parquet")
    result = GenerateResult(
        out_dir=str(out), members=members, first_year=first_year, last_year=last_year,
        seed=seed, population=population.value, eligibility_rows=n_rows,
        provider_rows=prov.num_rows, aco_participants=len(participants),
    )
    # JSON, not CSV/Parquet: `medsynergy ingest DIR` loads every CSV and Parquet file it finds.
    aco = {"aco_id": ACO_ID, "aco_name": ACO_NAME,
           "performance_years": [first_year, last_year], "participants": participants}
    (out / "aco.json").write_text(json.dumps(aco, indent=2) + "\n")
    (out / "manifest.json").write_text(json.dumps(asdict(result) | {"out_dir": None},
                                                  indent=2) + "\n")
    return result
