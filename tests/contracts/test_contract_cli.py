"""`medsynergy reconcile` and `compare` end to end on a small generated warehouse (Typer's
CliRunner, in process; one subprocess for the exit code of `main`)."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from typer.testing import CliRunner, Result

from medsynergy.cli import app
from medsynergy.errors import ContractError, UserError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "contracts"
FFS = EXAMPLES / "ffs_baseline.yaml"
REPRICED = EXAMPLES / "ffs_repriced.yaml"
CAPITATION = EXAMPLES / "primary_care_capitation.yaml"
#: the models `reconcile` binds to the warehouse's population (this issue's models)
MODELS = ("fee_for_service", "capitation", "risk_corridor", "bonus_pool", "transfer_pricing")


def cli(db: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["--db", str(db), *args])


def ok(db: Path, *args: str) -> Result:
    res = cli(db, *args)
    assert res.exit_code == 0, (res.output, res.exception)
    return res


def as_json(db: Path, *args: str) -> Any:
    return json.loads(ok(db, *args, "--format", "json").stdout)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("contracts_cli")
    data, db = root / "data", root / "w.duckdb"
    ok(db, "generate", "--members", "200", "--out", str(data), "--years", "2023-2025",
       "--seed", "5")
    ok(db, "ingest", str(data), "--source", "synth")
    ok(db, "measure")
    return db


def paid_total(db: Path, year: int) -> D:
    """The cost_totals mart's paid amount of `year`, read straight from the file."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        (value,) = con.execute("select sum(paid_amount)::varchar from cost_totals where year = ?",
                               [year]).fetchone() or (None,)
    finally:
        con.close()
    assert value is not None
    return D(value)


def latest_year(db: Path) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        (value,) = con.execute("select max(year) from member_months").fetchone() or (None,)
    finally:
        con.close()
    return int(value)


def step(result: dict[str, Any], name: str) -> D:
    (value,) = [s["value"] for s in result["steps"] if s["name"] == name]
    return D(value)


def test_ffs_baseline_pays_the_warehouse_paid_total(db: Path) -> None:
    r = as_json(db, "reconcile", "--contract", str(FFS))
    assert r["year"] == latest_year(db) == 2025
    total = paid_total(db, 2025)
    assert D(r["to_provider"]) == total
    assert D(r["to_payer"]) == D("0.00")
    assert step(r, "ffs_spend") == step(r, "provider_revenue") == total
    assert (r["contract"], r["model"], r["file"], r["unit"]) == (
        "ffs-paid", "fee_for_service", str(FFS), "member-year")
    assert r["units"] == int(step(r, "members"))


def test_year_option(db: Path) -> None:
    r = as_json(db, "reconcile", "--contract", str(FFS), "--year", "2024")
    assert r["year"] == 2024
    assert D(r["to_provider"]) == paid_total(db, 2024)


def test_table_output(db: Path) -> None:
    res = ok(db, "reconcile", "--contract", str(FFS))
    assert f"to provider: {paid_total(db, 2025):,}   to payer: 0.00" in res.stdout


def test_compare_sets_each_contract_against_fee_for_service(db: Path) -> None:
    out = as_json(db, "compare", "--contracts", str(FFS), "--contracts", str(REPRICED))
    base, repriced = out["comparison"]
    total = paid_total(db, 2025)
    assert (base["contract"], repriced["contract"]) == ("ffs-paid", "ffs-repriced")
    assert D(base["difference_from_ffs"]) == D("0.00")
    assert D(base["ffs_spend"]) == D(base["provider_revenue"]) == D(base["to_provider"]) == total
    assert D(repriced["ffs_spend"]) == total
    assert D(repriced["difference_from_ffs"]) == (D(repriced["provider_revenue"])
                                                  - D(repriced["ffs_spend"]))
    # the repriced contract pays its provider_revenue (rounded once) and the payer
    # keeps the paid total minus that
    assert D(repriced["to_provider"]) == D(repriced["provider_revenue"])
    assert D(repriced["to_payer"]) == total - D(repriced["to_provider"])
    assert base["members"] == repriced["members"] == out["contracts"][0]["units"]
    assert [c["file"] for c in out["contracts"]] == [str(FFS), str(REPRICED)]


def test_compare_takes_files_as_arguments_too(db: Path) -> None:
    out = as_json(db, "compare", "--contracts", str(FFS), str(REPRICED))
    assert [r["contract"] for r in out["comparison"]] == ["ffs-paid", "ffs-repriced"]


def test_simulation_output(db: Path) -> None:
    args = ("reconcile", "--contract", str(CAPITATION), "--simulate", "20", "--seed", "3")
    r = as_json(db, *args)
    sim = r["simulation"]
    assert (sim["replicates"], sim["seed"], sim["unit"], sim["units"]) == (
        20, 3, "member-year", r["units"])
    for d in (sim["to_provider"], sim["provider_gain"]):
        assert D(d["p5"]) <= D(d["p50"]) <= D(d["p95"])
    assert D(sim["p_gain"]) + D(sim["p_loss"]) <= 1
    # the seed changes the bootstrap, never the reconciliation itself
    other = as_json(db, *args[:-1], "4")
    assert (other["to_provider"], other["to_payer"]) == (r["to_provider"], r["to_payer"])
    assert other["simulation"]["seed"] == 4


def test_compare_with_simulation(db: Path) -> None:
    out = as_json(db, "compare", "--contracts", str(FFS), str(REPRICED), "--simulate", "20",
                  "--seed", "3")
    base, repriced = out["comparison"]
    # fee-for-service against itself: no gain and no loss in any replicate
    assert (D(base["gain_p5"]), D(base["gain_p50"]), D(base["gain_p95"])) == (
        D("0.00"), D("0.00"), D("0.00"))
    assert (D(base["p_gain"]), D(base["p_loss"])) == (D(0), D(0))
    assert D(repriced["gain_p5"]) <= D(repriced["gain_p50"]) <= D(repriced["gain_p95"])
    assert [c["simulation"]["replicates"] for c in out["contracts"]] == [20, 20]


def test_same_seed_same_output(db: Path) -> None:
    for args in (("reconcile", "--contract", str(FFS)),
                 ("compare", "--contracts", str(FFS), str(REPRICED), str(CAPITATION))):
        full = (*args, "--simulate", "20", "--seed", "3", "--format", "json")
        # several runs: one pair of runs can agree by chance (the same row order)
        outputs = {ok(db, *full).stdout for _ in range(6)}
        assert len(outputs) == 1


def test_negative_simulate_is_a_user_error(db: Path) -> None:
    res = cli(db, "reconcile", "--contract", str(FFS), "--simulate", "-1")
    assert isinstance(res.exception, UserError)
    assert str(res.exception) == "--simulate must be 0 or more replicates"


def test_bad_contract_names_the_file(db: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad_contract.yaml"
    bad.write_text("model: capitation\nname: bad\npmpm: -5\n", encoding="utf-8")
    res = cli(db, "reconcile", "--contract", str(bad))
    assert res.exit_code == 1
    assert isinstance(res.exception, ContractError)
    assert str(res.exception) == (f"{bad}: invalid contract: capitation.pmpm: Input should be "
                                  "greater than 0 (got -5)")
    # through `main`, as a user runs it: one line on stderr naming the file, exit 2
    proc = subprocess.run([sys.executable, "-m", "medsynergy.cli", "--db", str(db),
                           "reconcile", "--contract", str(bad)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: {res.exception}"]
    assert "bad_contract.yaml" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(("text", "reason"), [
    (None, "cannot read contract"),
    ("model: [unclosed\n", "not valid YAML"),
    ("model: no_such_model\nname: x\n", "does not match any of the expected tags"),
])
def test_unreadable_contracts_name_the_file(db: Path, tmp_path: Path, text: str | None,
                                            reason: str) -> None:
    path = tmp_path / "c.yaml"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    res = cli(db, "reconcile", "--contract", str(path))
    assert res.exit_code == 1
    assert isinstance(res.exception, UserError)
    assert str(res.exception).startswith(f"{path}: ")
    assert reason in str(res.exception)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_example_contract_reconciles(db: Path, path: Path) -> None:
    r = as_json(db, "reconcile", "--contract", str(path))
    assert r["file"] == str(path)
    assert r["year"] == 2025
    for amount in (r["to_provider"], r["to_payer"]):
        assert D(amount) == D(amount).quantize(D("0.01"))
    terms = yaml.safe_load(path.read_text(encoding="utf-8"))
    population = terms.get("population", {})
    if terms["model"] in MODELS and population.get("payer") is None \
            and population.get("basis", "paid") == "paid":
        # everyone enrolled, on the paid amounts: fee-for-service is the warehouse total
        assert step(r, "ffs_spend") == paid_total(db, 2025)


def test_detail_out_writes_the_model_tables(db: Path, tmp_path: Path) -> None:
    bundle = EXAMPLES / "bundle_joint_heart_failure.yaml"
    ok(db, "reconcile", "--contract", str(bundle), "--detail-out", str(tmp_path))
    result = as_json(db, "reconcile", "--contract", str(bundle))
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == [f"bundle-joint-heart-failure.{n}.csv"
                       for n in ("episodes", "outliers", "spend_by_category")]
    # the CSV holds every row the result counts (header + rows)
    for name, rows in result["detail_rows"].items():
        lines = (tmp_path / f"bundle-joint-heart-failure.{name}.csv").read_text().splitlines()
        assert len(lines) == rows + 1
    # the episodes' spend adds up to the episodes of the settled year
    episodes = (tmp_path / "bundle-joint-heart-failure.episodes.csv").read_text().splitlines()
    header = [h.strip('"') for h in episodes[0].split(",")]
    year, spend = header.index("year"), header.index("spend")
    total = sum((D(r.split(",")[spend]) for r in episodes[1:]
                 if int(r.split(",")[year]) == result["year"]), D(0))
    assert total == step(result, "spend")
