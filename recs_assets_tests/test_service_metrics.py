"""Service metrics: Prometheus ``/metrics`` across uvicorn workers over real HTTP, and the Lambda
handler's CloudWatch Embedded Metric Format lines, against a real SQLite cache."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import httpx
import pytest

from recs_service.caches import Recommendation, SQLiteCache
from recs_service.lambda_handler import handler

REPO = Path(__file__).resolve().parent.parent
ROUTE = "/recommendations/{user_id}"


def publish(cache: SQLiteCache, version: str) -> None:
    cache.publish(version, [Recommendation("alice", [11, 12, 13, 14], [0.9, 0.8, 0.7, 0.6])],
                  fallback=[1, 2, 3, 4], model_version=f"models/{version}")


def families(text: str) -> dict:
    """{metric family name: [(sample name, labels, value)]} of a Prometheus text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    return {f.name: [(s.name, s.labels, s.value) for s in f.samples] for f in text_string_to_metric_families(text)}


def total(fams: dict, family: str, **labels) -> float:
    return sum(v for name, lab, v in fams.get(family, []) if name.endswith("_total")
               and all(lab.get(k) == want for k, want in labels.items()))


def requests_by_worker(folder: Path) -> dict[str, float]:
    """{worker pid: recommendation requests it counted}, read from each worker's own metric file."""
    from prometheus_client.multiprocess import MultiProcessCollector

    counts = defaultdict(float)
    for file in folder.glob("counter_*.db"):
        pid = file.stem.split("_", 1)[1]
        for metric in MultiProcessCollector.merge([str(file)]):
            for s in metric.samples:
                if s.name == "recs_requests_total" and s.labels.get("route") == ROUTE:
                    counts[pid] += s.value
    return dict(counts)


def stale_counts(folder: Path) -> None:
    """A metric file as a previous run's worker left it: 1000 answered requests."""
    from prometheus_client.mmap_dict import MmapedDict, mmap_key

    stale = MmapedDict(str(folder / "counter_1.db"))
    stale.write_value(mmap_key("recs_requests", "recs_requests_total", ["route", "status"], [ROUTE, "200"],
                               "Requests answered, by route template and status"), 1000.0, 0.0)
    stale.close()


@pytest.fixture
def served(tmp_path):
    """The launcher (``python -m recs_service.serve``) with two uvicorn workers on a free loopback
    port, over a SQLite cache holding v1; yields (base url, cache, metrics folder)."""
    cache = SQLiteCache(path=str(tmp_path / "recommendations.sqlite"))
    publish(cache, "v1")
    folder = tmp_path / "metrics"
    folder.mkdir()
    stale_counts(folder)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "RECS_ENV": "local", "RECS_DATA_DIR": str(tmp_path)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    proc = subprocess.Popen([sys.executable, "-m", "recs_service.serve", "--workers", "2", "--port", str(port),
                             "--no-access-log", "--metrics-dir", str(folder)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):  # start-up: until a worker answers (or the launcher exits)
            if proc.poll() is not None:
                pytest.fail(f"the launcher exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(url + "/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("the API did not start")
        yield url, cache, folder
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_metrics_sum_every_worker_and_follow_the_live_version(served):
    url, cache, folder = served
    sent = fallbacks = incomplete = 0

    def get(path: str, **params) -> dict:
        # a new connection each time: the kernel hands each one to either worker
        nonlocal sent
        r = httpx.get(url + path, params=params, headers={"connection": "close"}, timeout=10)
        assert r.status_code == 200, r.text
        sent += 1
        return r.json()

    # rounds until both workers have answered recommendations (where a connection goes is the
    # kernel's choice, so the test keeps sending rather than assuming a split)
    for round_ in range(300):
        assert get("/recommendations/alice", k=2)["complete"] is True
        body = get(f"/recommendations/stranger-{round_}", k=3)  # unknown: the fallback, complete
        assert body["fallback"] is True and body["complete"] is True
        fallbacks += 1
        assert get("/recommendations/alice", k=10)["complete"] is False  # 4 stored, 10 asked
        incomplete += 1
        if round_ >= 3 and len([n for n in requests_by_worker(folder).values() if n]) == 2:
            break
    workers = requests_by_worker(folder)
    assert len(workers) == 2 and all(workers.values()), workers  # both served; the stale file is gone
    assert sum(workers.values()) == sent

    for _ in range(4):  # several scrapes: whichever worker answers, the same sums
        fams = families(httpx.get(url + "/metrics", headers={"connection": "close"}, timeout=10).text)
        assert total(fams, "recs_requests", route=ROUTE) == sent
        assert total(fams, "recs_requests", route=ROUTE, status="200") == sent
        assert total(fams, "recs_fallback_answers") == fallbacks
        assert total(fams, "recs_incomplete_lists") == incomplete
        assert total(fams, "recs_cache_unavailable") == 0
        latency = {name: v for name, lab, v in fams["recs_request_duration_seconds"] if lab.get("route") == ROUTE}
        assert latency["recs_request_duration_seconds_count"] == sent
        assert fams["recs_live_version_info"] == [
            ("recs_live_version_info", {"version": "v1", "model_version": "models/v1", "list": "ranker"}, 1.0)]
        published = cache.fallback()["created_at"]
        assert fams["recs_live_version_published_timestamp_seconds"][0][2] == pytest.approx(published)
        labels = {tuple(sorted(lab.items())) for samples in fams.values() for _, lab, _ in samples}
        assert not any("stranger" in value or "alice" in value for lab in labels for _, value in lab)

    publish(cache, "v2")  # a new version: its series replaces v1's in every worker's answer
    for _ in range(4):
        fams = families(httpx.get(url + "/metrics", headers={"connection": "close"}, timeout=10).text)
        assert [lab["version"] for _, lab, _ in fams["recs_live_version_info"]] == ["v2"]


def emf_records(out: str) -> list[dict]:
    """Every stdout line, each checked against the Embedded Metric Format's rules."""
    records = [json.loads(line) for line in out.splitlines()]
    for record in records:
        meta = record["_aws"]
        assert isinstance(meta["Timestamp"], int) and meta["Timestamp"] > 1_000_000_000_000  # ms since the epoch
        for directive in meta["CloudWatchMetrics"]:
            assert isinstance(directive["Namespace"], str) and 0 < len(directive["Namespace"]) <= 255
            for dimension_set in directive["Dimensions"]:
                assert len(dimension_set) <= 30
                for name in dimension_set:  # a dimension names a string at the record's root
                    assert isinstance(record[name], str)
            for metric in directive["Metrics"]:  # a metric names a number at the record's root
                assert isinstance(record[metric["Name"]], (int, float)) and not isinstance(record[metric["Name"]], bool)
                assert metric.get("Unit", "None") in {"Count", "Milliseconds", "None"}
    return records


def test_lambda_writes_one_emf_line_per_request(tmp_path, capsys):
    cache = SQLiteCache(path=str(tmp_path / "cache.sqlite"))
    publish(cache, "v1")
    events = [
        {"rawPath": "/recommendations/alice", "queryStringParameters": {"k": "2"}},   # complete
        {"rawPath": "/recommendations/alice", "queryStringParameters": {"k": "10"}},  # incomplete
        {"rawPath": "/recommendations/newcomer", "queryStringParameters": {"k": "3"}},  # fallback
        {"rawPath": "/recommendations/newcomer2"},                                     # fallback, 4 < 12: incomplete
        {"rawPath": "/health"},
        {"rawPath": "/recommendations/a!b"},                                           # 400
        {"rawPath": "/elsewhere/secret-path"},                                         # 404
    ]
    capsys.readouterr()
    statuses = [handler(event, cache=cache)["statusCode"] for event in events]
    handler({"rawPath": "/recommendations/alice"}, cache=SQLiteCache(path=str(tmp_path / "gone.sqlite")))
    records = emf_records(capsys.readouterr().out)
    assert len(records) == len(events) + 1
    assert [int(r["status"]) for r in records] == statuses + [503] == [200, 200, 200, 200, 200, 400, 404, 503]
    assert [r["route"] for r in records] == [ROUTE] * 4 + ["/health", ROUTE, "unmatched", ROUTE]
    assert sum(r["requests"] for r in records) == 8
    assert sum(r["fallback_answers"] for r in records) == 2
    assert sum(r["incomplete_lists"] for r in records) == 2
    assert [r["cache_unavailable"] for r in records] == [0] * 7 + [1]
    published = cache.fallback()["created_at"]
    for r in records[:4]:
        assert r["model_version"] == "models/v1" and r["list"] == "ranker"
        assert r["published_at"] == pytest.approx(published)
    assert records[4]["version"] == "v1"
    assert all(r["latency"] >= 0 for r in records)
    assert "secret" not in json.dumps(records) and "newcomer" not in json.dumps(records)


@pytest.mark.parametrize("setting,error", [
    ("late", "PROMETHEUS_MULTIPROC_DIR was set after prometheus_client was imported"),
    ("missing", "is not a directory"),
])
def test_a_misconfigured_metrics_folder_is_a_clear_error_at_start(tmp_path, setting, error):
    """A folder set too late (each worker would count only in memory while /metrics reads the empty
    folder: zeros) or one that does not exist stops the app at start, saying which."""
    code = ("import os, sys\n"
            "import prometheus_client\n" if setting == "late" else "import os, sys\n")
    code += ("os.environ['PROMETHEUS_MULTIPROC_DIR'] = sys.argv[1]\n"
             "from recs_service.caches import SQLiteCache\n"
             "from recs_service.api import create_app\n"
             "create_app(SQLiteCache(path=sys.argv[1] + '/c.sqlite'))\n")
    folder = tmp_path if setting == "late" else tmp_path / "nowhere"
    out = subprocess.run([sys.executable, "-c", code, str(folder)], cwd=REPO, capture_output=True, text=True)
    assert out.returncode != 0 and error in out.stderr, out.stderr[-2000:]
