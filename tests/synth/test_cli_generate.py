"""`medsynergy generate`: errors are one line and exit 2; a run writes the files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "medsynergy.cli", "generate", *args],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(("args", "says"), [
    (("--members", "0"), "--members must be a positive number"),
    (("--members", "-3"), "--members must be a positive number"),
    (("--members", "10", "--years", "2025-2023"), "runs backwards"),
    (("--members", "10", "--years", "twenty"), "is not a year or a range"),
    (("--members", "10", "--population", "martian"), "is not one of medicare"),
])
def test_user_errors_print_one_line_and_exit_2(tmp_path: Path, args: tuple[str, ...],
                                               says: str) -> None:
    r = _run(*args, "--out", str(tmp_path / "out"))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert says in lines[0]
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "out" / "eligibility.parquet").exists()


def test_generate_writes_the_files(tmp_path: Path) -> None:
    r = _run("--members", "500", "--years", "2024", "--seed", "3", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "generated 500 members" in r.stdout
    for name in ("eligibility.parquet", "provider.parquet", "aco.json", "manifest.json"):
        assert (tmp_path / name).is_file()
