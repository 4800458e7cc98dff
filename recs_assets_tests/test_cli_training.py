"""The README's CLI commands, run as written: the data and features, then the loop that trains every
``trained_model`` partition (Dagster's CLI materializes one partition per command)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from dagster import AssetKey, DagsterInstance

from recs_assets.pipeline import LOCAL_INSTANCE
from recs_assets.training.grid import GRID
from recs_assets_tests.helpers import plain_shell_env

REPO = Path(__file__).resolve().parent.parent


def _readme_line(pattern: str) -> str:
    [line] = [x for x in (REPO / "README.md").read_text().splitlines() if re.search(pattern, x)]
    return line


def test_the_readme_loop_trains_every_partition(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(LOCAL_INSTANCE, home / "dagster.yaml")
    config = tmp_path / "tiny.yaml"
    config.write_text("ops: {raw_tables: {config: {source: synthetic, scale: 0.001, seed: 5}}}\n")
    env = plain_shell_env({**os.environ, "RECS_DATA_DIR": str(tmp_path), "DAGSTER_HOME": str(home),
                           "TF_CPP_MIN_LOG_LEVEL": "2"})
    uv = "python3 -m uv run --frozen"
    features = (f"{uv} dagster asset materialize -m recs_assets -c {config}"
                " --select '+group:features and not key:landed_transactions'")
    loop = _readme_line(r"^for p in .*--select trained_model").replace("uv run", uv)
    for command in (features, loop):
        done = subprocess.run(["bash", "-c", command], cwd=REPO, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with DagsterInstance.from_config(str(home)) as instance:
        materialized = instance.get_materialized_partitions(AssetKey("trained_model"))
    assert materialized == {p.key for p in GRID}
