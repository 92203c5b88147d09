"""MSSP results files (CMS PUFs): every layout read, every ACO's published EarnSaveLoss
recomputed by the settlement rules; refusals of unknown layouts and bad cells; the
`mssp settle-puf` command.

The reference files are read in place from the shared reference folder (not copied into
the repository). Achieved match rates (|computed - published| <= max($1, 0.05 % of
|gross savings|)), all ACOs of every file:

    file        one-sided       two-sided
    py2013.csv  215 / 215       5 / 5
    py2014.csv  330 / 330       3 / 3
    py2018.csv  453 / 453      95 / 95
    py2020.csv  323 / 323     190 / 190
    py2021.csv  280 / 280     195 / 195
    py2022.csv  198 / 198     284 / 284

The largest differences (up to $2,067 on $50M, 2018; $1,269, 2020) come from the
published quality scores being rounded (4 decimals in 2018, 2 decimals of a percent in
2020) while CMS multiplied by the unrounded score; they stay below 0.007 % of the earned
amount."""

from __future__ import annotations

import os
from decimal import Decimal as D
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from medsynergy.cli_mssp import mssp_app
from medsynergy.contracts.mssp_puf import (
    PufCellError,
    match_rates,
    read_puf,
    recompute,
)
from medsynergy.contracts.mssp_settle import Track, settle
from medsynergy.errors import InputFileError, MissingColumnsError, UnreadableFileError


def _reference_dir() -> Path:
    """The CMS results files (not copied into the repository): $MEDSYNERGY_SHARED, the
    `shared` folder beside the checkout, or the machine's /work/shared (a clean clone
    made elsewhere still finds them)."""
    here = Path(__file__).resolve().parents[2]
    roots = [Path(os.environ["MEDSYNERGY_SHARED"])] if "MEDSYNERGY_SHARED" in os.environ else []
    roots += [here.parent / "shared", Path("/work/shared")]
    for root in roots:
        if (root / "reference" / "mssp-puf").is_dir():
            return (root / "reference" / "mssp-puf").resolve()
    return roots[0] / "reference" / "mssp-puf"


REF = _reference_dir()
needs_ref = pytest.mark.skipif(not REF.is_dir(), reason=f"reference PUFs not found at {REF}")

#: file -> (layout, rows, one-sided ACOs, two-sided ACOs, two-sided ACOs matched)
FILES = {
    "py2013.csv": ("PY2013 (shifted labels)", 220, 215, 5, 5),
    "py2014.csv": ("PY2014 (Track1/Track2 flags, rates in percent)", 333, 330, 3, 3),
    "py2018.csv": ("PY2015-2018 (Current_Track_1/2/3/1_Plus flags, fractions)",
                   548, 453, 95, 95),
    "py2020.csv": ("PY2019-2020 (BASIC/ENHANCED flags, fractions, quality score in "
                   "percent)", 513, 323, 190, 190),
    "py2021.csv": ("PY2021 (BASIC/ENHANCED flags, rates in percent)", 475, 280, 195, 195),
    "py2022.csv": ("PY2022 and later (Current_Track codes, rates in percent)",
                   482, 198, 284, 284),
}


@pytest.fixture(scope="module")
def recomputed() -> dict[str, list[dict[str, object]]]:
    return {name: recompute(REF / name) for name in FILES}


def _failures(rows: list[dict[str, object]], two_sided: bool) -> str:
    bad = [r for r in rows if r["two_sided"] is two_sided and r["match"] is not True]
    return "\n".join(f"{r['aco_id']} {r['track']} n_ab={r['n_ab']} computed="
                     f"{r['computed_earned']} published={r['published_earned']} "
                     f"msr={r['msr_used']} notes={r['notes']}" for r in bad)


@needs_ref
@pytest.mark.parametrize("name", list(FILES))
def test_layout_and_rows(name: str) -> None:
    layout, n_rows, *_ = FILES[name]
    puf = read_puf(REF / name)
    assert puf.layout == layout
    assert len(puf.rows) == n_rows
    assert puf.year == int(name[2:6])
    assert len({r.aco_id for r in puf.rows}) == n_rows


@needs_ref
@pytest.mark.parametrize("name", list(FILES))
def test_every_one_sided_aco_reproduced(name: str,
                                        recomputed: dict[str, list[dict[str, object]]]) -> None:
    rows = recomputed[name]
    _, _, one_sided, _, _ = FILES[name]
    matched, total = match_rates(rows)["one_sided"]
    assert total == one_sided
    assert matched == total, "not reproduced:\n" + _failures(rows, False)


@needs_ref
@pytest.mark.parametrize("name", list(FILES))
def test_two_sided_match_rate(name: str, recomputed: dict[str, list[dict[str, object]]]
                              ) -> None:
    rows = recomputed[name]
    _, _, _, two_sided, achieved = FILES[name]
    matched, total = match_rates(rows)["two_sided"]
    assert total == two_sided
    assert matched >= achieved, "not reproduced:\n" + _failures(rows, True)


@needs_ref
@pytest.mark.parametrize("name", list(FILES))
def test_one_sided_msr_is_the_size_table(name: str,
                                         recomputed: dict[str, list[dict[str, object]]]) -> None:
    # the published (rounded) MinSavPerc of every one-sided ACO is the size table's rate
    disagree = [r["aco_id"] for r in recomputed[name] if r["msr_disagrees"]]
    assert disagree == []


@needs_ref
@pytest.mark.parametrize("name", ["py2020.csv", "py2021.csv", "py2022.csv"])
def test_covid_adjustment_equals_the_shared_losses(name: str) -> None:
    """In PY2020-2022 every shared loss was removed (COVID-19); the published DisAdj is
    the loss removed, so it checks the shared loss rate (1 - max rate x quality score,
    also from PY2021) and the limits. Exceptions: BASIC ACOs whose revenue-based loss
    limit (participants' revenue, not published) was lower."""
    checked = 0
    for row in read_puf(REF / name).rows:
        if row.inputs.disaster_adjustment is None:
            continue
        result = settle(row.inputs)
        losses = result.step("shared_losses").value
        assert isinstance(losses, D)
        published = abs(row.inputs.disaster_adjustment)
        if abs(losses - published) <= 1:
            checked += 1
            continue
        assert row.inputs.track in {Track.BASIC_C, Track.BASIC_D}, row.aco_id
        assert losses > published
        assert any("revenue not given" in n for n in result.notes)
    assert checked == {"py2020.csv": 1, "py2021.csv": 12, "py2022.csv": 14}[name]


# ------------------------------------------------------------------ synthetic layouts

CURRENT = ("ACO_ID,Current_Track,N_AB,Sav_rate,MinSavPerc,EarnSaveLoss,QualScore,"
           "ABtotBnchmk,ABtotExp,FinalShareRate,Met_QPS,Met_AltQPS,Met_40pctl,Rev_Exp_Cat,"
           "Current_Start_Date,ReducedSS,NewColumn2025\n")


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_later_layout_with_added_columns_and_plain_percents(tmp_path: Path) -> None:
    """A PY2024-style file: columns added (Met_AltQPS, Met_40pctl, ReducedSS, ...),
    percents without "%", blank flags. Rows: the half rate below the MSR (425.605(h)),
    the alternative quality standard, an ENHANCED loss scaled by quality."""
    path = _write(tmp_path, "py2024.csv", CURRENT
                  # 2M savings (2 %) < MSR 2.5 %, low revenue BASIC A, new agreement:
                  # 2M x 20 % x 0.98 = 392,000
                  + 'A1,A,"20,000",2.00,2.50,"392,000",85.00,"100,000,000","98,000,000",'
                  '20.00,1,,1,Low Revenue,01/01/2024,1,x\n'
                  # alternative standard: 10M x (40 % x 0.6) x 0.98 = 2,352,000
                  + 'A2,B,"20,000",10.00,2.50,"2,352,000",60.00,"100,000,000","90,000,000",'
                  '24.00,0,1,0,High Revenue,01/01/2022,0,x\n'
                  # ENHANCED losses 10M x (1 - 75 % x 0.5) = 6,250,000
                  + 'A3,EN,"20,000",-10.00,2.00,"-6,250,000",50.00,"100,000,000",'
                  '"110,000,000",75.00,1,,0,High Revenue,01/01/2022,0,x\n')
    rows = recompute(path)
    assert [(r["aco_id"], r["computed_earned"], r["match"]) for r in rows] == [
        ("A1", D("392000.00"), True), ("A2", D("2352000.00"), True),
        ("A3", D("-6250000.00"), True)]
    assert read_puf(path).layout == "PY2022 and later (Current_Track codes, rates in percent)"


def test_unknown_layout_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "py2030.csv", "ACO_ID,Track,Benchmark,Spend\nA1,1,100,90\n")
    with pytest.raises(MissingColumnsError) as err:
        read_puf(path)
    message = str(err.value)
    assert message.startswith(f"{path}: missing required column(s) for an MSSP results file")
    assert "closest layout" in message
    assert "N_AB" in message
    assert "ABtotBnchmk" in message


def test_bad_cell_names_file_row_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "py2023.csv", CURRENT
                  + 'A1,A,"20,000",2.00,2.50,0,85.00,"100,000,000","98,000,000",'
                  '20.00,1,,1,Low Revenue,01/01/2024,1,x\n'
                  + 'A2,A,twenty,2.00,2.50,0,85.00,"100,000,000","98,000,000",'
                  '20.00,1,,1,Low Revenue,01/01/2024,1,x\n')
    with pytest.raises(PufCellError) as err:
        read_puf(path)
    assert str(err.value) == (f"{path}: data row 2 (line 3), column 'N_AB': "
                              "'twenty' is not a number")
    assert (err.value.row, err.value.column) == (2, "N_AB")


@pytest.mark.parametrize(("cell", "column", "reason"), [
    ("Track 9", "Current_Track", "unknown MSSP track 'Track 9'"),
    ("", "ABtotBnchmk", "empty, a number is required"),
    ("250.00", "QualScore", "is not a rate between 0 and 100 %"),
])
def test_more_bad_cells(tmp_path: Path, cell: str, column: str, reason: str) -> None:
    values = {"Current_Track": "A", "ABtotBnchmk": "100", "QualScore": "85"}
    values[column] = cell
    path = _write(tmp_path, "py2023.csv", CURRENT + (
        f"A1,{values['Current_Track']},6000,2.00,2.50,0,{values['QualScore']},"
        f"{values['ABtotBnchmk']},98,20.00,1,,1,Low Revenue,01/01/2024,1,x\n"))
    with pytest.raises(PufCellError, match=f"data row 1 \\(line 2\\), column '{column}'"
                       ) as err:
        read_puf(path)
    assert reason in str(err.value)


def test_savings_rate_in_the_wrong_unit_is_refused(tmp_path: Path) -> None:
    # a current-layout file (percent) whose Sav_rate holds fractions
    path = _write(tmp_path, "py2025.csv", CURRENT
                  + 'A1,B,"20,000",0.1000,2.50,"3,920,000",85.00,"100,000,000",'
                  '"90,000,000",40.00,1,,1,High Revenue,01/01/2024,0,x\n')
    with pytest.raises(InputFileError, match=r"reads the savings rate in percent, but on 1 of "
                       r"1 rows .* says fractions"):
        read_puf(path)


def test_quality_scores_in_the_wrong_unit_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "py2025.csv", CURRENT
                  + 'A1,B,"20,000",10.00,2.50,"3,920,000",0.85,"100,000,000",'
                  '"90,000,000",40.00,1,,1,High Revenue,01/01/2024,0,x\n')
    with pytest.raises(InputFileError, match="reads QualScore in percent, but every score "
                       "is at most 1"):
        read_puf(path)


def test_year_from_the_file_name_or_given(tmp_path: Path) -> None:
    row = ('A1,B,"20,000",10.00,2.50,"3,920,000",85.00,"100,000,000","90,000,000",'
           '40.00,1,,1,High Revenue,01/01/2024,0,x\n')
    path = _write(tmp_path, "results.csv", CURRENT + row)
    with pytest.raises(InputFileError, match="cannot tell the performance year"):
        read_puf(path)
    assert read_puf(path, year=2023).year == 2023
    named = _write(tmp_path, "PY_Financial_and_Quality_Results_2024_revised 2026_07_17.csv",
                   CURRENT + row)
    assert read_puf(named).year == 2024


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFileError, match="empty file"):
        read_puf(_write(tmp_path, "py2022.csv", ""))
    with pytest.raises(UnreadableFileError, match="data row 1 \\(line 2\\): 3 fields, "
                       "header has 17"):
        read_puf(_write(tmp_path, "py2022.csv", CURRENT + "A1,A,1\n"))
    with pytest.raises(InputFileError, match="no such file"):
        read_puf(tmp_path / "missing.csv")


@needs_ref
def test_shifted_2013_labels_are_checked_by_arithmetic(tmp_path: Path) -> None:
    lines = (REF / "py2013.csv").read_text(encoding="utf-8-sig").splitlines()
    broken = lines[1].replace("$39568834.84", "$39568000.00")  # savings no longer add up
    path = _write(tmp_path, "py2013.csv", "\ufeff" + lines[0] + "\n" + broken + "\n")
    with pytest.raises(PufCellError, match="shifted labels do not check out"):
        read_puf(path)


# ------------------------------------------------------------------------------- CLI

runner = CliRunner()


@needs_ref
def test_cli_table_prints_match_rates() -> None:
    result = runner.invoke(mssp_app, ["settle-puf", str(REF / "py2018.csv")])
    assert result.exit_code == 0, result.output
    assert "one-sided ACOs: 453 of 453 match (100.0 %)" in result.output
    assert "two-sided ACOs: 95 of 95 match (100.0 %)" in result.output
    assert "published MSR is not the size table's: 0" in result.output
    assert "A1001" in result.output


@needs_ref
def test_cli_json_and_csv() -> None:
    result = runner.invoke(mssp_app, ["settle-puf", str(REF / "py2022.csv"), "--format",
                                      "json"])
    assert result.exit_code == 0
    rows = orjson.loads(result.stdout)
    assert len(rows) == 482
    first = rows[0]
    assert first["aco_id"] == "A1001"
    assert first["computed_earned"] == "45867445.68"  # Decimals as strings
    assert first["published_earned"] == "45867446"
    assert first["match"] is True
    result = runner.invoke(mssp_app, ["settle-puf", str(REF / "py2014.csv"), "--format", "csv",
                                      "--year", "2014"])
    lines = result.stdout.splitlines()
    assert lines[0].startswith("aco_id,track,two_sided,n_ab,computed_earned,published_earned")
    assert len(lines) == 334


def test_cli_user_error_is_one_line_exit_2(tmp_path: Path) -> None:
    path = _write(tmp_path, "py2030.csv", "ACO_ID,Track\nA1,1\n")
    result = runner.invoke(mssp_app, ["settle-puf", str(path)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert "missing required column(s)" in lines[0]
