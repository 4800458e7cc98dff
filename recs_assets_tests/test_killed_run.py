"""A ``make run`` killed while a step holds the cache-publish pool slot: the next pipeline run marks the
dead run failed and gives the slot back, instead of waiting forever for it (a real CLI run, SIGKILLed)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus

from recs_assets.pipeline import LOCAL_INSTANCE, settle_dead_runs

DEFS = '''
import time
from dagster import Definitions, asset

@asset(pool="cache_publish")
def slow_publish():
    time.sleep(600)

@asset(pool="cache_publish")
def next_publish():
    return 1

defs = Definitions(assets=[slow_publish, next_publish])
'''


def _materialize(home: Path, defs: Path, asset: str) -> subprocess.Popen:
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    return subprocess.Popen([sys.executable, "-m", "dagster", "asset", "materialize", "-f", str(defs), "--select", asset],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def test_a_killed_run_gives_its_pool_slot_back_to_the_next_pipeline_run(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(LOCAL_INSTANCE, home / "dagster.yaml")
    defs = tmp_path / "defs.py"
    defs.write_text(DEFS)
    proc = _materialize(home, defs, "slow_publish")
    with DagsterInstance.from_config(str(home)) as instance:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait until the step holds its slot
            runs = instance.get_runs()
            if runs and instance.all_logs(runs[0].run_id, of_type=DagsterEventType.STEP_START):
                break
            time.sleep(0.5)
        [run] = instance.get_runs()
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.STARTED
        assert instance.event_log_storage.get_concurrency_info("cache_publish").claimed_slots

        assert settle_dead_runs(instance) == [run.run_id]
        assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.FAILURE
        assert not instance.event_log_storage.get_concurrency_info("cache_publish").claimed_slots
        assert settle_dead_runs(instance) == []
    nxt = _materialize(home, defs, "next_publish")
    assert nxt.wait(timeout=300) == 0  # it got the slot (before the fix it waited for the dead run's)
