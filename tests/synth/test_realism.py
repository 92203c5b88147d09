"""The generated people land inside the bands of docs/generator.md (20k Medicare members)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from .conftest import query

# Per person, on their first span: status code, dual status, reason for entitlement.
PEOPLE = """
with f as (
  select person_id, arg_min(medicare_status_code, enrollment_start_date) msc,
         any_value(dual_status_code) dual, max(death_flag) dead
  from e group by person_id)
select count(*), avg((msc in ('10', '11'))::int), avg((msc in ('20', '21'))::int),
       avg((msc in ('11', '21', '31'))::int), avg((dual <> '00')::int)
from f
"""


@pytest.fixture(scope="module")
def shares(medicare_dir: Path) -> tuple[Any, ...]:
    return query(medicare_dir, PEOPLE)[0]


def test_every_member_is_written(shares: tuple[Any, ...]) -> None:
    assert shares[0] == 20_000


def test_most_members_are_aged(shares: tuple[Any, ...]) -> None:
    assert 0.82 <= shares[1] <= 0.88


def test_about_15_percent_are_disabled_under_65(shares: tuple[Any, ...]) -> None:
    assert 0.12 <= shares[2] <= 0.18


def test_about_1_percent_have_esrd(shares: tuple[Any, ...]) -> None:
    assert 0.005 <= shares[3] <= 0.015


def test_about_20_percent_are_dual_eligible(shares: tuple[Any, ...]) -> None:
    assert 0.17 <= shares[4] <= 0.23


def test_four_to_five_percent_die_each_year(medicare_dir: Path) -> None:
    rows = query(medicare_dir, """
        select year(enrollment_start_date) y,
               count(distinct person_id) filter (where year(death_date) = y)
                 / count(distinct person_id)
        from e group by y order by y""")
    assert [y for y, _ in rows] == [2023, 2024, 2025]
    for _, rate in rows:
        assert 0.04 <= rate <= 0.05


def test_churn_new_enrollees_and_leavers(medicare_dir: Path) -> None:
    new, left = query(medicare_dir, """
        select count(distinct person_id) filter (where s > date '2023-01-01'),
               count(distinct person_id) filter (where t < date '2025-12-31' and d = 0)
        from (select person_id, min(enrollment_start_date) s, max(enrollment_end_date) t,
                     max(death_flag) d from e group by person_id)""")[0]
    assert 0.12 <= new / 20_000 <= 0.20  # about 7 % a year of the base
    assert 0.05 <= left / 20_000 <= 0.12  # about 3 % a year


def test_age_65_and_over_by_status_code(medicare_dir: Path) -> None:
    wrong = query(medicare_dir, """
        select count(*) from e
        where (medicare_status_code in ('10', '11'))
              <> (date_sub('year', birth_date, enrollment_end_date) >= 65)""")[0][0]
    assert wrong == 0


def test_coverage_ends_at_the_end_of_the_month_of_death(medicare_dir: Path) -> None:
    rows = query(medicare_dir, """
        select count(*) filter (where death_flag = 1),
               count(*) filter (where death_flag = 1 and death_date is null),
               count(*) filter (where death_flag = 0 and death_date is not null),
               count(*) filter (where enrollment_end_date > last_day(death_date)),
               count(*) filter (where enrollment_end_date < enrollment_start_date)
        from e""")[0]
    # ~4.4 % of 20k members die each year: well over 1,000 rows carry a death
    # (4,650 at seed 11), so the zero counts below are tested on real cases.
    assert rows[0] >= 1_000
    assert rows[1:] == (0, 0, 0, 0)
    last = query(medicare_dir, """
        select count(*) filter (where t <> last_day(death_date)) from (
          select max(enrollment_end_date) t, any_value(death_date) death_date
          from e where death_flag = 1 group by person_id)""")[0][0]
    assert last == 0


def test_aging_in_enrollees_start_the_month_they_turn_65(medicare_dir: Path) -> None:
    rows = query(medicare_dir, """
        select count(*), count(*) filter (where date_trunc('month', birth_date + interval 65 year) = s)
        from (select min(enrollment_start_date) s, any_value(birth_date) birth_date,
                     any_value(original_reason_entitlement_code) orec
              from e group by person_id)
        where s > date '2023-01-01' and orec = '0'""")[0]
    # Thousands of members age in over three years (2,545 at seed 11).
    assert rows[0] >= 1_000
    assert rows[1] == rows[0]


def test_most_medicare_members_are_in_ffs(medicare_dir: Path) -> None:
    ffs = query(medicare_dir, "select avg((plan = 'Medicare FFS')::int) from e")[0][0]
    assert 0.75 <= ffs <= 0.90


def test_commercial_members_are_under_65_in_families(mixed_dir: Path) -> None:
    rows = query(mixed_dir, """
        select count(distinct person_id),
               max(date_sub('year', birth_date, enrollment_start_date)),
               count(distinct subscriber_id),
               count(*) filter (where subscriber_relation = 'self' and subscriber_id <> member_id)
        from e where payer_type = 'commercial'""")[0]
    people, oldest, families, wrong_self = rows
    assert 2_500 <= people <= 3_500  # 60 % of 5,000 in a mixed population
    assert oldest <= 64
    assert 1.8 <= people / families <= 2.8
    assert wrong_self == 0
    split = query(mixed_dir, """
        select count(*) from (select subscriber_id from e where payer_type = 'commercial'
                              group by subscriber_id having count(distinct payer) > 1)""")[0][0]
    assert split == 0  # a family shares its payer


def test_providers_scale_with_members_and_have_taxonomies(medicare_dir: Path) -> None:
    pcps, bad_taxonomy, bad_tin, orgs_without_clinic = query(medicare_dir, """
        select count(*) filter (where primary_care_flag = 1
                                and taxonomy_code in ('207Q00000X', '207R00000X', '207RG0300X')),
               count(*) filter (where not regexp_full_match(taxonomy_code, '[0-9]{3}[0-9A-Z]{6}X')),
               count(*) filter (where not regexp_full_match(tin, '[0-9]{9}')),
               count(*) filter (where organization_id is null)
        from p""")[0]
    assert 15 <= pcps <= 25  # about one primary-care physician per 1,000 members
    assert (bad_taxonomy, bad_tin, orgs_without_clinic) == (0, 0, 0)
    taxonomies = {t for (t,) in query(medicare_dir, "select distinct taxonomy_code from p")}
    assert {"207Q00000X", "207R00000X", "363L00000X", "2084P0800X", "103T00000X", "171100000X",
            "225100000X", "111N00000X", "133V00000X", "282N00000X", "314000000X",
            "251E00000X"} <= taxonomies


def test_aco_participants_are_organisations_of_the_provider_file(medicare_dir: Path) -> None:
    aco = json.loads((medicare_dir / "aco.json").read_text())
    orgs = {(o, t) for o, t in query(medicare_dir, "select organization_id, tin from p")}
    members = {(p["organization_id"], p["tin"]) for p in aco["participants"]}
    assert members
    assert members <= orgs
    assert len(members) < len({o for o, _ in orgs})  # only some organisations
    assert aco["performance_years"] == [2023, 2025]


def test_birth_dates_are_plausible(medicare_dir: Path) -> None:
    oldest, youngest = query(medicare_dir, "select min(birth_date), max(birth_date) from e")[0]
    assert isinstance(oldest, date)
    assert date(1915, 1, 1) <= oldest
    assert youngest <= date(2005, 12, 31)
