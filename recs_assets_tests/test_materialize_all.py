"""A newcomer's first click: "Materialize all" in the UI of ``make dev`` on a fresh instance.

With partitioned assets in the graph (the hyperparameter grid, the landed files) the UI's "Materialize
all" launches a pure asset backfill of every asset and every partition (GraphQL
``launchPartitionBackfill`` with ``allPartitions``), which the daemon then runs. Here the same mutation
goes over HTTP to a real ``dagster dev`` (webserver + daemon, the local instance's dagster.yaml) on the
synthetic default, without run config; the backfill must succeed and leave every asset materialized.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from dagster import AssetKey, DagsterInstance, DagsterRunStatus, RunsFilter

REPO = Path(__file__).resolve().parent.parent
ASSETS = "{ assetNodes { assetKey { path } isMaterializable isPartitioned partitionKeys } }"
LAUNCH = """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
STATUS = """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  ... on PartitionBackfill { status } ... on PythonError { message } } }"""
FINISHED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _graphql(port: int, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.loads(response.read())
    assert "errors" not in answer, answer["errors"]
    return answer["data"]


def _wait(what, timeout: float, server: subprocess.Popen, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if (found := what()):
                return found
        except OSError:  # the webserver is still starting
            pass
        assert server.poll() is None, f"dagster dev exited:\n{log.read_text()[-3000:]}"
        time.sleep(3)
    raise AssertionError(f"timed out after {timeout}s:\n{log.read_text()[-3000:]}")


def test_materialize_all_on_a_fresh_instance_builds_every_asset(tmp_path):
    data, home = tmp_path / "data", tmp_path / "data" / "dagster_home"
    home.mkdir(parents=True)
    shutil.copy(REPO / "deploy" / "dagster.local.yaml", home / "dagster.yaml")  # what `make dev` does
    env = {**os.environ, "RECS_DATA_DIR": str(data), "RECS_ENV": "local", "DAGSTER_HOME": str(home),
           "WANDB_MODE": "offline", "PYTHONPATH": str(REPO)}
    env.pop("RECS_EXECUTOR", None)
    port, log = _free_port(), tmp_path / "dagster_dev.log"
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        env=env, cwd=REPO, start_new_session=True, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    try:
        nodes = _wait(lambda: _graphql(port, ASSETS)["assetNodes"], 180, server, log)
        selection = [{"path": n["assetKey"]["path"]} for n in nodes if n["isMaterializable"]]
        launched = _graphql(port, LAUNCH, {"params": {"assetSelection": selection, "allPartitions": True}})
        launched = launched["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        backfill = launched["backfillId"]

        def finished():
            status = _graphql(port, STATUS, {"id": backfill})["partitionBackfillOrError"]["status"]
            return status if status in FINISHED else None

        status = _wait(finished, 1800, server, log)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)

    with DagsterInstance.from_config(str(home)) as instance:
        runs = [r.dagster_run for r in instance.get_run_records(RunsFilter(tags={"dagster/backfill": backfill}))]
        failed = [r.run_id for r in runs if r.status != DagsterRunStatus.SUCCESS]
        assert status in ("COMPLETED", "COMPLETED_SUCCESS") and not failed, (status, failed, log.read_text()[-3000:])
        for node in filter(lambda n: n["isMaterializable"], nodes):
            key = AssetKey(node["assetKey"]["path"])
            if not node["isPartitioned"]:
                assert instance.get_latest_materialization_event(key) is not None, key
            else:  # every partition; landed_transactions has none yet (no file landed)
                assert instance.get_materialized_partitions(key) == set(node["partitionKeys"]), key
    assert len(runs) > 1  # the daemon ran it stage by stage, not as one run
    assert any(node["assetKey"]["path"] == ["served_recommendations"] for node in nodes)
