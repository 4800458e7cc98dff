"""The HTTP API on a real uvicorn server over loopback, and the Lambda handler, against a real cache."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest
import uvicorn

from recs_service.api import create_app
from recs_service.caches import Recommendation, SQLiteCache
from recs_service.lambda_handler import handler


@pytest.fixture
def cache(tmp_path):
    cache = SQLiteCache(path=str(tmp_path / "cache.sqlite"))
    recs = [Recommendation("alice", [11, 12, 13, 14], [0.9, 0.8, 0.7, 0.6])]
    cache.publish("v1", recs, fallback=[1, 2, 3, 4], model_version="models/x/lr0.01")
    return cache


def serve(app):
    """Start uvicorn on a free loopback port in a thread; return (base url, server)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.02)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server


@pytest.fixture
def api(cache):
    url, server = serve(create_app(cache))
    with httpx.Client(base_url=url, timeout=5) as client:
        yield client
    server.should_exit = True


def test_known_user_gets_their_top_k(api):
    r = api.get("/recommendations/alice", params={"k": 2})
    assert r.status_code == 200
    body = r.json()
    assert body == {"user_id": "alice", "items": [11, 12], "scores": [0.9, 0.8],
                    "model_version": "models/x/lr0.01", "list": "ranker", "fallback": False, "complete": True}


def test_k_beyond_what_the_cache_holds_says_so(api):
    body = api.get("/recommendations/alice", params={"k": 10}).json()
    assert body["items"] == [11, 12, 13, 14] and body["complete"] is False
    assert api.get("/recommendations/bob", params={"k": 4}).json()["complete"] is True


def test_unknown_user_gets_the_popular_fallback(api):
    body = api.get("/recommendations/bob", params={"k": 3}).json()
    assert body["fallback"] is True and body["items"] == [1, 2, 3] and body["scores"] is None


@pytest.mark.parametrize("path,params,status", [
    ("/recommendations/" + "x" * 129, {}, 400),         # too long
    ("/recommendations/al%20ice", {}, 400),              # bad character
    ("/recommendations/alice%0A", {}, 400),              # a trailing newline (a `$` pattern let it through)
    ("/recommendations/alice", {"k": 0}, 422),
    ("/recommendations/alice", {"k": 101}, 422),
    ("/recommendations/alice", {"k": "many"}, 422),
])
def test_malformed_requests_get_a_4xx_with_a_message(api, path, params, status):
    r = api.get(path, params=params)
    assert r.status_code == status and r.json()["detail"]


def test_health_reports_the_current_version(api):
    r = api.get("/health")
    assert r.status_code == 200 and r.json()["version"] == "v1"


def test_cache_outage_gives_503_not_a_stack_trace(tmp_path):
    url, server = serve(create_app(SQLiteCache(path=str(tmp_path / "missing.sqlite"))))
    try:
        for path in ("/recommendations/alice", "/health"):
            r = httpx.get(url + path, timeout=5)
            assert r.status_code == 503
            assert r.json() == {"detail": "recommendation cache unavailable"}
            assert "Traceback" not in r.text
    finally:
        server.should_exit = True


def test_lambda_handler_serves_api_gateway_events(cache, tmp_path):
    ok = handler({"rawPath": "/recommendations/alice", "pathParameters": {"user_id": "alice"},
                  "queryStringParameters": {"k": "1"}}, cache=cache)
    assert ok["statusCode"] == 200 and json.loads(ok["body"])["items"] == [11]
    assert handler({"path": "/recommendations/zed", "queryStringParameters": None}, cache=cache)["statusCode"] == 200
    assert handler({"path": "/recommendations/a!b"}, cache=cache)["statusCode"] == 400
    assert handler({"path": "/recommendations/alice", "queryStringParameters": {"k": "x"}}, cache=cache)["statusCode"] == 400
    down = SQLiteCache(path=str(tmp_path / "nope.sqlite"))
    assert handler({"path": "/recommendations/alice"}, cache=down)["statusCode"] == 503
    assert json.loads(handler({"rawPath": "/health"}, cache=cache)["body"])["version"] == "v1"
    staged = handler({"rawPath": "/prod/recommendations/alice", "queryStringParameters": {"k": "2"}}, cache=cache)
    assert json.loads(staged["body"])["items"] == [11, 12]
    # any other path is no route, not a user id (it took the last segment as one)
    for path in ("/admin/alice", "/alice", "/recommendations/alice/extra"):
        assert handler({"rawPath": path}, cache=cache)["statusCode"] == 404, path
    assert handler({"rawPath": "/recommendations/alice\n"}, cache=cache)["statusCode"] == 400


def test_the_online_path_imports_no_dagster(tmp_path):
    """The API, the Lambda handler and both caches, in a fresh interpreter: Dagster (and the pipeline)
    never loads, so a Lambda package needs boto3, not the training stack."""
    import subprocess
    import sys

    code = ("import sys\n"
            "import recs_service.api, recs_service.lambda_handler, recs_service.dynamodb\n"
            "from recs_service.settings import cache_from_environment\n"
            "cache_from_environment('local'); cache_from_environment('prod')\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dagster', 'recs_assets', 'tensorflow'))\n"
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PATH": "", "RECS_DATA_DIR": str(tmp_path)})
    assert out.stdout.strip() == "[]"


def test_serve_says_what_to_run_when_nothing_is_published(tmp_path, monkeypatch):
    from recs_service.caches import Recommendation, SQLiteCache
    from recs_service.ready import message

    monkeypatch.setenv("RECS_ENV", "local")
    monkeypatch.setenv("RECS_DATA_DIR", str(tmp_path))
    ready, text = message()
    assert not ready and "run `make run` first" in text and str(tmp_path) in text
    SQLiteCache(path=str(tmp_path / "recommendations.sqlite")).publish(
        "v1", [Recommendation("u", [1], [1.0])], [1], "baseline:als:abc")
    ready, text = message()
    assert ready and "v1 (baseline als)" in text
