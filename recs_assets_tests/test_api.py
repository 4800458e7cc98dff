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
    # k in ASCII digits only, as the Lambda handler reads it (pydantic alone took these three as 10, 2, 3)
    ("/recommendations/alice", {"k": "1_0"}, 422),
    ("/recommendations/alice", {"k": " 2 "}, 422),
    ("/recommendations/alice", {"k": "+3"}, 422),
    ("/recommendations/alice", {"k": "٢"}, 422),          # an Arabic-Indic two
])
def test_malformed_requests_get_a_4xx_with_a_message(api, path, params, status):
    r = api.get(path, params=params)
    assert r.status_code == status and r.json()["detail"]


def test_health_reports_the_current_version(api):
    r = api.get("/health")
    assert r.status_code == 200 and r.json()["version"] == "v1"


def test_error_bodies_repeat_only_a_short_prefix_of_the_request(api):
    """A long bad value is named by a short prefix and its length, never echoed whole (FastAPI's own
    422 body repeated the whole value)."""
    for path, params, status in [("/recommendations/alice", {"k": "9" * 5000}, 422),
                                 ("/recommendations/" + "x" * 5000, {}, 400)]:
        r = api.get(path, params=params)
        assert r.status_code == status and len(r.content) < 600, (status, len(r.content))
        assert "5000 characters" in r.text


def test_health_names_the_kind_of_cache_not_where_it_is(cache, moto_endpoint, tmp_path):
    """/health (API and Lambda) says sqlite or dynamodb, the live version and its list: no file path,
    endpoint or table prefix."""
    from recs_service.dynamodb import DynamoDBCache

    dynamo = DynamoDBCache(table_prefix="secret-prefix", endpoint_url=moto_endpoint, region_name="us-east-1")
    dynamo.publish("v1", [Recommendation("alice", [11], [0.9])], fallback=[1], model_version="baseline:als:abc")
    for backend, kind, secrets in [(cache, "sqlite", [str(tmp_path), "cache.sqlite"]),
                                   (dynamo, "dynamodb", [moto_endpoint, "127.0.0.1", "secret-prefix"])]:
        url, server = serve(create_app(backend))
        try:
            r = httpx.get(url + "/health", timeout=5)
        finally:
            server.should_exit = True
        lam = handler({"rawPath": "/health"}, cache=backend)
        for status, text in [(r.status_code, r.text), (lam["statusCode"], lam["body"])]:
            body = json.loads(text)
            assert status == 200 and body["cache"] == kind and body["version"] == "v1", body
            assert body["list"] == ("ranker" if kind == "sqlite" else "baseline als")
            assert not any(secret in text for secret in secrets), text


def test_metrics_count_outages_and_label_no_customer_or_path(tmp_path):
    """/metrics in one process (no multiprocess folder): a cache outage is counted and the cache
    reported down; customer ids and unmatched paths never become labels."""
    from prometheus_client.parser import text_string_to_metric_families

    url, server = serve(create_app(SQLiteCache(path=str(tmp_path / "missing.sqlite"))))
    try:
        assert httpx.get(url + "/recommendations/secret-customer", timeout=5).status_code == 503
        assert httpx.get(url + "/health", timeout=5).status_code == 503
        assert httpx.get(url + "/wp-admin/secret-path", timeout=5).status_code == 404
        text = httpx.get(url + "/metrics", timeout=5).text
    finally:
        server.should_exit = True
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples[("recs_cache_unavailable_total", ())] == 2
    assert samples[("recs_cache_up", ())] == 0
    assert not any(name.startswith("recs_live_version") for name, _ in samples)
    assert samples[("recs_requests_total", (("route", "/recommendations/{user_id}"), ("status", "503")))] == 1
    assert samples[("recs_requests_total", (("route", "unmatched"), ("status", "404")))] == 1
    assert "secret" not in text


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


# One per class of malformed event the handler raised on (or answered 200): each gets a 400 naming
# what is wrong, and the cache is never read.
MALFORMED_EVENTS = [
    (None, "event"),
    ([{"rawPath": "/health"}], "event"),
    ("/recommendations/alice", "event"),
    ({"rawPath": 42}, "path"),
    ({"rawPath": ["/health"]}, "path"),
    ({}, "path"),
    ({"rawPath": "/recommendations/alice", "pathParameters": "alice"}, "pathParameters"),
    ({"rawPath": "/recommendations/alice", "pathParameters": {"user_id": ["alice"]}}, "user_id"),
    ({"rawPath": "/recommendations/alice", "queryStringParameters": ["k=2"]}, "queryStringParameters"),
    ({"rawPath": "/recommendations/alice", "queryStringParameters": {"k": None}}, "k"),
    ({"rawPath": "/recommendations/alice", "queryStringParameters": {"k": ["2"]}}, "k"),
    ({"rawPath": "/recommendations/alice", "queryStringParameters": {"k": "1_0"}}, "k"),
    ({"rawPath": "/recommendations/alice", "queryStringParameters": {"k": " 2 "}}, "k"),
    ({"rawPath": "/recommendations/alice", "queryStringParameters": {"k": "٢"}}, "k"),
    ({"rawPath": "/recommendations/alice", "queryStringParameters": {"k": "+3"}}, "k"),
    ({"rawPath": "/recommendations/alice", "httpMethod": 7}, "method"),
    ({"rawPath": "/recommendations/alice", "requestContext": "ctx"}, "requestContext"),
]


@pytest.mark.parametrize("event,named", MALFORMED_EVENTS, ids=[f"{i}-{n}" for i, (_, n) in enumerate(MALFORMED_EVENTS)])
def test_lambda_answers_a_malformed_event_with_a_400_naming_it(cache, event, named):
    reply = handler(event, cache=cache)
    assert reply["statusCode"] == 400, reply
    assert named in json.loads(reply["body"])["detail"]


@pytest.mark.parametrize("event", [
    {"rawPath": "/recommendations/alice", "httpMethod": "POST"},                           # REST API
    {"rawPath": "/recommendations/alice", "requestContext": {"http": {"method": "DELETE"}}},  # HTTP API
    {"rawPath": "/health", "httpMethod": "PUT"},
])
def test_lambda_answers_other_methods_with_405(cache, event):
    reply = handler(event, cache=cache)
    assert reply["statusCode"] == 405 and reply["headers"]["allow"] == "GET"
    assert cache.current_version() == "v1"


def test_lambda_404_repeats_only_a_short_prefix_of_the_path(cache):
    reply = handler({"rawPath": "/" + "x" * 100_000}, cache=cache)
    assert reply["statusCode"] == 404 and len(reply["body"]) < 300
    assert "100001 characters" in reply["body"]


@pytest.mark.parametrize("user_id,k", [
    ("alice", "1"), ("alice", "100"), ("alice", "012"), ("bob-_9", "12"), ("x" * 128, "5"),
    ("alice", "0"), ("alice", "101"), ("alice", "1_0"), ("alice", " 2 "), ("alice", "+3"), ("alice", "٢"),
    ("alice", "2.0"), ("alice", "1e1"), ("alice", ""), ("x" * 129, "5"), ("al ice", "5"), ("alice\n", "5"),
    ("é", "5"),
])
def test_the_api_and_the_lambda_accept_exactly_the_same_requests(api, cache, user_id, k):
    """One definition of what is accepted: the API answers 200 exactly when the handler does, and a
    refusal is FastAPI's 400/422 there and a 400 in Lambda."""
    from urllib.parse import quote

    over_http = api.get(f"/recommendations/{quote(user_id, safe='')}", params={"k": k})
    in_lambda = handler({"rawPath": f"/recommendations/{user_id}", "queryStringParameters": {"k": k}}, cache=cache)
    assert (over_http.status_code == 200) == (in_lambda["statusCode"] == 200), (over_http.text, in_lambda["body"])
    if over_http.status_code == 200:
        assert over_http.json() == json.loads(in_lambda["body"])
    else:
        assert over_http.status_code in (400, 422) and in_lambda["statusCode"] == 400


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


def test_the_lambda_handler_needs_only_the_standard_library_and_boto3(tmp_path):
    """Its metrics are EMF lines on stdout: a Lambda package needs neither prometheus_client nor the
    web stack (a fresh interpreter, so nothing imported by other tests counts)."""
    import subprocess
    import sys

    code = ("import sys\n"
            "import recs_service.lambda_handler, recs_service.dynamodb\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'prometheus_client', 'fastapi', 'pydantic', 'starlette', 'uvicorn'}))")
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
