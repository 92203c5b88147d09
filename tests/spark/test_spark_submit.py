"""Under spark-submit the engine takes the submitter's settings (docs/spark.md, section 2).

The engine starts its own `local[2]` session when run by itself; under `spark-submit` a
cluster's master, memory and partitions must win, or a job submitted to a cluster would
run in its driver alone. One extra JVM (~15 s): the only test that starts its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.spark

DRIVER = """
from medsynergy.engine.spark_engine import local_session

s = local_session()
print("RESULT", s.sparkContext.master, s.conf.get("spark.sql.shuffle.partitions"),
      s.conf.get("spark.sql.session.timeZone"))
"""


def test_spark_submit_settings_win(tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    submit = bin_dir / "spark-submit"
    if not submit.exists():
        pytest.skip("pyspark's spark-submit is not installed next to this Python")
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    # none of this process's Spark variables: the suite's own session has set some (a
    # gateway to its JVM), and a driver that inherits them fails
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SPARK", "PYSPARK", "_PYSPARK"))}
    env.update(PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
               PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    done = subprocess.run(
        [str(submit), "--master", "local[1]", "--conf", "spark.ui.enabled=false",
         "--conf", "spark.sql.shuffle.partitions=7", str(driver)],
        env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])
    result = [line for line in done.stdout.splitlines() if line.startswith("RESULT")]
    # the submitter's master and partitions; the engine's session setting still applied
    assert result == ["RESULT local[1] 7 UTC"]
