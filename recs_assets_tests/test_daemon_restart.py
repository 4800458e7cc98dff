"""The landing sensor under a real ``dagster-daemon``, killed between the sensor's request and the run:
restarted, the sensor sees the same file again and requests nothing; the queued run loads it once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter, materialize
from dagster._core.definitions.run_request import InstigatorType

from recs_assets_tests.test_automation import _history_and_last_week

REPO = Path(__file__).resolve().parent.parent
INSTANCE = """
run_queue:
  max_concurrent_runs: {max_runs}
telemetry:
  enabled: false
"""
WORKSPACE = f"""
load_from:
  - python_module:
      module_name: recs_assets_tests.daemon_location
      location_name: daemon_test
      working_directory: {REPO}
"""


def _daemon(home: Path, env: dict, max_runs: int) -> subprocess.Popen:
    """A daemon over ``home``; ``max_runs`` 0 holds every queued run in the queue."""
    (home / "dagster.yaml").write_text(INSTANCE.format(max_runs=max_runs))
    return subprocess.Popen([str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(home / "workspace.yaml")],
                            env=env, cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=open(home / f"daemon-{max_runs}.log", "w"))


def _kill(daemon: subprocess.Popen) -> None:
    os.killpg(daemon.pid, signal.SIGKILL)  # the daemon and its code server, no clean shutdown
    daemon.wait(timeout=30)


def _landing_runs(home: Path) -> list:
    with DagsterInstance.from_config(str(home)) as instance:
        return [r.dagster_run for r in instance.get_run_records(RunsFilter(tags={"recs_assets/landing": "ingest"}))]


def _sensor_ticks_since(home: Path, since: float) -> list:
    """The landing sensor's finished ticks that started after ``since`` (epoch seconds)."""
    with DagsterInstance.from_config(str(home)) as instance:
        states = [s for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
                  if s.instigator_name == "landing_sensor"]
        ticks = [t for s in states for t in instance.get_ticks(s.instigator_origin_id, s.selector_id, limit=20)]
    return [t for t in ticks if t.timestamp > since and t.status.value in ("SKIPPED", "SUCCESS")]


def _logs(home: Path) -> str:
    return "\n".join(p.read_text()[-2000:] for p in sorted(home.glob("daemon-*.log")))


def _wait(what, timeout: float, daemon: subprocess.Popen, home: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (found := what()):
            return found
        assert daemon.poll() is None, f"the daemon died:\n{_logs(home)}"
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout}s; daemon logs:\n{_logs(home)}")


def test_killing_the_daemon_between_request_and_run_loads_the_file_once(tmp_path):
    data, home = tmp_path / "data", tmp_path / "dagster_home"
    home.mkdir()
    (home / "workspace.yaml").write_text(WORKSPACE)
    env = {**os.environ, "RECS_DATA_DIR": str(data), "RECS_ENV": "local", "DAGSTER_HOME": str(home),
           "PYTHONPATH": str(REPO)}
    env.pop("RECS_EXECUTOR", None)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RECS_DATA_DIR", str(data))
        patch.setenv("RECS_ENV", "local")
        from recs_assets.environment import build_resources
        from recs_assets.ingest.assets import raw_tables

        resources = build_resources()
        new_week = _history_and_last_week(data / "export")
        run = {"ops": {"raw_tables": {"config": {"source": "hm_csv", "path": str(data / "export")}}}}
        assert materialize([raw_tables], resources=resources, run_config=run).success
    landing = data / "landing"
    landing.mkdir(parents=True, exist_ok=True)
    new_week.to_csv(landing / "week.csv", index=False)

    daemon = _daemon(home, env, max_runs=0)  # the sensor requests; the queue holds the run
    try:
        # the sensor creates the run (NOT_STARTED) and then submits it to the queue: wait for the latter
        [queued] = _wait(lambda: [r for r in _landing_runs(home) if r.status == DagsterRunStatus.QUEUED],
                         180, daemon, home)
        assert len(_landing_runs(home)) == 1
        time.sleep(2)  # the tick finishes recording its cursor, or not: either way must load once
    finally:
        _kill(daemon)

    # restarted with the run still queued and the file still waiting: the sensor ticks again
    # (every 60 s) over the same file and must not request it a second time
    restarted = time.time()
    daemon = _daemon(home, env, max_runs=0)
    try:
        _wait(lambda: _sensor_ticks_since(home, restarted), 150, daemon, home)
        time.sleep(2)
    finally:
        _kill(daemon)
    assert [r.run_id for r in _landing_runs(home)] == [queued.run_id]
    assert (landing / "week.csv").exists()  # nothing ran yet

    daemon = _daemon(home, env, max_runs=1)  # the queue opens: the one run loads the file
    try:
        done = _wait(lambda: [r for r in _landing_runs(home) if r.is_finished], 240, daemon, home)
    finally:
        _kill(daemon)
    runs = _landing_runs(home)
    assert [r.run_id for r in runs] == [queued.run_id], "one run, the one requested before the kill"
    assert done[0].status == DagsterRunStatus.SUCCESS, _logs(home)
    assert not (landing / "week.csv").exists() and len(list((landing / "archive").iterdir())) == 1
    import duckdb

    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        rows, loads = con.execute("select count(*), count(distinct load_id) from landing.landed_transactions").fetchone()
    assert (rows, loads) == (len(new_week), 1)
