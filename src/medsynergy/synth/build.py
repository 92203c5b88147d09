"""Write a synthetic population as input-layer Parquet files.

Members are generated in fixed chunks of CHUNK_MEMBERS, each from its own random streams
(numpy SeedSequence(seed, spawn_key=(stream, chunk index, ...))): people, then their care
and claims, then pilot enrolment. Each chunk is written as soon as it is made, so memory
stays flat and the same arguments give byte-identical files.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from medsynergy.errors import ConfigError
from medsynergy.synth import acute as A
from medsynergy.synth import ambulatory as B
from medsynergy.synth import targets as T
from medsynergy.synth.conditions import Health, health
from medsynergy.synth.context import Ctx
from medsynergy.synth.costshare import plan_codes
from medsynergy.synth.lines import concat
from medsynergy.synth.people import (
    ELIGIBILITY_SCHEMA,
    People,
    Period,
    commercial_people,
    eligibility_rows,
    medicare_people,
)
from medsynergy.synth.pharmacy import PHARMACY_SCHEMA, pharmacy_table
from medsynergy.synth.pilot import COHORTS, Pilot, parse_pilot
from medsynergy.synth.promis import OBSERVATION_SCHEMA, observation_table
from medsynergy.synth.providers import ACO_ID, ACO_NAME, ProviderIndex, providers
from medsynergy.synth.tables import MEDICAL_SCHEMA, medical_table, sort_lines
from medsynergy.synth.truth import Truth as _Truth

CHUNK_MEMBERS = 25_000
PEOPLE_STREAM, PROVIDER_STREAM, CARE_STREAM, PILOT_STREAM = 1, 2, 3, 4
ID_BLOCK = 10**12  # claim and observation numbers: (chunk, group) x ID_BLOCK + n
MIN_YEAR, MAX_YEAR = 1990, 2100
Progress = Callable[[int, int], None]  # (members done, members total)
Bools = npt.NDArray[np.bool_]


# the Arrow schema each output table is built and written with
SCHEMAS = {"eligibility": ELIGIBILITY_SCHEMA, "medical_claim": MEDICAL_SCHEMA,
           "pharmacy_claim": PHARMACY_SCHEMA, "observation": OBSERVATION_SCHEMA}


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
    medical_claim_rows: int = 0
    pharmacy_claim_rows: int = 0
    observation_rows: int = 0
    pilot: str | None = None


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


def _statistics(schema: pa.Schema) -> list[str]:
    """Columns with min/max statistics: ids, dates and amounts, which readers filter on.
    Statistics of the dictionary-encoded code columns would cost a third of the writing
    time and prune nothing (every row group holds every common code)."""
    return [f.name for f in schema
            if not pa.types.is_dictionary(f.type) or f.name in ("person_id", "member_id")]


class _Writers:
    """One Parquet writer per output table, each to a temporary name until all succeed."""

    def __init__(self, out: Path, schemas: dict[str, pa.Schema]) -> None:
        self.out, self.rows = out, dict.fromkeys(schemas, 0)
        # store_schema=False: the files say only what Parquet says (text is text), so
        # readers do not see the dictionary types used to write them.
        self.writers = {name: pq.ParquetWriter(out / f".{name}.parquet.tmp", schema,
                                               compression="zstd", store_schema=False,
                                               write_statistics=_statistics(schema))
                        for name, schema in schemas.items()}

    def write(self, name: str, table: pa.Table) -> None:
        if table.num_rows:
            self.writers[name].write_table(table)
        self.rows[name] += table.num_rows

    def close(self, ok: bool) -> None:
        for name, writer in self.writers.items():
            writer.close()
            tmp = self.out / f".{name}.parquet.tmp"
            if ok:
                os.replace(tmp, self.out / f"{name}.parquet")
            else:
                tmp.unlink(missing_ok=True)


def _write_all(writers: _Writers, tables: list[tuple[str, pa.Table]]) -> None:
    for name, table in tables:
        writers.write(name, table)


def _enrol(seed: int, index: int, group: int, pilot: Pilot | None, h: Health,
           start: npt.NDArray[np.int64],
           end: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """(eligible, enrolled): the cohort covered on the start date, and who joins."""
    n = len(h.z)
    if pilot is None:
        none = np.zeros(n, dtype=np.bool_)
        return none, none
    day = (np.datetime64(pilot.start) - np.datetime64("1970-01-01")).astype(np.int64)
    eligible = h.has(*COHORTS[pilot.cohort]) & (start <= day) & (end >= day)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(PILOT_STREAM, index, group)))
    tilt = {"none": 0.0, "healthier": -T.PILOT_SELECTION_TILT, "sicker": T.PILOT_SELECTION_TILT}
    w = np.exp(tilt[pilot.selection] * h.z)
    mean_w = w[eligible].mean() if eligible.any() else 1.0
    p = np.minimum(pilot.share * w / mean_w, 1.0)
    return eligible, eligible & (rng.random(n) < p)


def generate(out_dir: str | Path, *, members: int, years: tuple[int, int], seed: int = 0,
             population: Population | str = Population.medicare,
             pilot: Pilot | str | None = None, progress: Progress | None = None) -> GenerateResult:
    """Write the input-layer Parquet files, aco.json and manifest.json to `out_dir`."""
    _check(members, seed)
    population = Population(population)
    if isinstance(pilot, str):
        pilot = parse_pilot(pilot)
    first_year, last_year = years
    if last_year < first_year:
        raise ConfigError(f"years {first_year}-{last_year} run backwards")
    period = Period(first_year, last_year)
    if pilot is not None and not (dt.date(first_year, 1, 1) < pilot.start
                                  <= dt.date(last_year, 12, 31)):
        raise ConfigError(f"--pilot start {pilot.start} is not after the first day of "
                          f"{first_year} and within {first_year}-{last_year}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(PROVIDER_STREAM,)))
    prov, participants = providers(rng, members)
    index_of = ProviderIndex.of(prov)
    writers = _Writers(out, SCHEMAS)
    truth = _Truth(pilot)
    job = _Job(seed=seed, members=members, chunk_members=CHUNK_MEMBERS, population=population,
               period=period, pilot=pilot, prov=index_of)
    ok = False
    # Parquet encoding runs in C++ without the GIL: one thread writes chunk k while the
    # next is generated, so the two cores share the work with one chunk in flight.
    writing: Future[None] | None = None
    try:
        with ThreadPoolExecutor(1) as writer_thread:
            done = 0
            for made in _chunks(job):
                if writing is not None:
                    writing.result()
                writing = writer_thread.submit(_write_all, writers, made.tables)
                truth.eligible += made.eligible
                truth.enrolled += made.enrolled
                done += made.members
                if progress:
                    progress(done, members)
            if writing is not None:
                writing.result()
        ok = True
    finally:
        writers.close(ok)
    tmp = out / ".provider.parquet.tmp"
    pq.write_table(prov, tmp, compression="zstd")
    os.replace(tmp, out / "provider.parquet")
    result = GenerateResult(
        out_dir=str(out), members=members, first_year=first_year, last_year=last_year,
        seed=seed, population=population.value, eligibility_rows=writers.rows["eligibility"],
        provider_rows=prov.num_rows, aco_participants=len(participants),
        medical_claim_rows=writers.rows["medical_claim"],
        pharmacy_claim_rows=writers.rows["pharmacy_claim"],
        observation_rows=writers.rows["observation"],
        pilot=pilot.spec if pilot else None,
    )
    # JSON, not CSV/Parquet: `medsynergy ingest DIR` loads every CSV and Parquet file it finds.
    aco = {"aco_id": ACO_ID, "aco_name": ACO_NAME,
           "performance_years": [first_year, last_year], "participants": participants}
    (out / "aco.json").write_text(json.dumps(aco, indent=2) + "\n")
    truth_path = out / "pilot_truth.json"
    if pilot is not None:
        truth_path.write_text(json.dumps(truth.document(), indent=2) + "\n")
    else:
        truth_path.unlink(missing_ok=True)
    (out / "manifest.json").write_text(json.dumps(asdict(result) | {"out_dir": None},
                                                  indent=2) + "\n")
    return result


@dataclass(frozen=True)
class _Job:
    """What it takes to make any chunk."""

    seed: int
    members: int
    chunk_members: int
    population: Population
    period: Period
    pilot: Pilot | None
    prov: ProviderIndex

    @property
    def chunks(self) -> int:
        return -(-self.members // self.chunk_members)


@dataclass(frozen=True)
class _Made:
    """One chunk's output, in the order it is written."""

    members: int
    tables: list[tuple[str, pa.Table]]
    eligible: list[str]
    enrolled: list[str]


def _make(job: _Job, index: int) -> _Made:
    first = index * job.chunk_members
    n = min(job.chunk_members, job.members - first)
    tables: list[tuple[str, pa.Table]] = []
    eligible: list[str] = []
    enrolled: list[str] = []
    for group, people in enumerate(_chunk(job.seed, index, n, first + 1, job.population,
                                          job.period)):
        tables.append(("eligibility", eligibility_rows(people, job.period)))
        made, chosen = _care(job, index, group, people)
        tables += made
        eligible += people.person_id.filter(chosen[0]).to_pylist()
        enrolled += people.person_id.filter(chosen[1]).to_pylist()
    return _Made(n, tables, eligible, enrolled)


def _chunks(job: _Job) -> Iterator[_Made]:
    """The chunks in order."""
    return (_make(job, i) for i in range(job.chunks))


def _care(job: _Job, index: int, group: int,
          people: People) -> tuple[list[tuple[str, pa.Table]], tuple[Bools, Bools]]:
    """Conditions, care, claims and surveys of one chunk's people."""
    seed, period, prov, pilot = job.seed, job.period, job.prov, job.pilot
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(CARE_STREAM, index, group)))
    h = health(rng, people, period)
    ctx = Ctx(rng=rng, people=people, health=h, period=period, prov=prov, pilot=pilot,
              enrolled=np.zeros(len(people.birth), dtype=np.bool_))
    eligible, enrolled = _enrol(seed, index, group, pilot, h, ctx.start, ctx.end)
    ctx.enrolled = enrolled
    stays, ed_p, ed_d, admitted = A.admissions(ctx)
    lines = sort_lines(concat([
        A.inpatient_claims(ctx, stays), A.ed_claims(ctx, ed_p, ed_d, admitted),
        A.post_acute(ctx, stays), B.primary_care(ctx), B.wellness(ctx), B.specialists(ctx),
        B.imaging_and_procedures(ctx), B.outpatient_facility(ctx), B.part_b_drugs(ctx),
        B.equipment(ctx), B.dialysis(ctx), B.integrative(ctx),
    ]))
    base = (2 * index + group) * ID_BLOCK
    lag = rng.integers(T.PAID_LAG_DAYS[0], T.PAID_LAG_DAYS[1] + 1, size=len(lines))
    return [
        ("medical_claim", medical_table(lines, people, period, prov, plan_codes(people), base,
                                        lag)),
        ("pharmacy_claim", pharmacy_table(ctx, base)),
        ("observation", observation_table(ctx, base)),
    ], (eligible, enrolled)
