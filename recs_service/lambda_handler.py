"""AWS Lambda entry point for API Gateway (REST or HTTP API proxy events), over the same service code.

Answers as the HTTP API does: ``GET /recommendations/{user_id}?k=``, ``GET /health``; 400 for a
malformed event or request (what is accepted is ``recs_service.service``'s one definition), 404 for
another path, 405 for another method, 503 when the cache is down. Error messages repeat at most a short
prefix of what was sent. Each invocation prints one CloudWatch Embedded Metric Format line to stdout
(``recs_service.metrics``): CloudWatch turns it into metrics without an API call.
"""

from __future__ import annotations

import json
import re
import time

from recs_service.caches import CacheUnavailable
from recs_service.metrics import UNMATCHED, RequestFacts, emf_line
from recs_service.service import DEFAULT_K, BadRequest, health, parse_k, preview, recommend

_CACHE = None
# API Gateway paths, with or without a stage prefix (/prod/recommendations/u1): nothing else is a route
_RECOMMENDATIONS = re.compile(r"(?:.*/)?recommendations/([^/]*)/?")
_HEALTH = re.compile(r"(?:.*/)?health/?")
ROUTES = "GET /recommendations/{user_id} or GET /health"


def _cache():
    global _CACHE
    if _CACHE is None:  # built once per Lambda container, from the environment (RECS_ENV=prod)
        from recs_service.settings import cache_from_environment

        _CACHE = cache_from_environment()
    return _CACHE


def _reply(status: int, body: dict, headers: dict | None = None) -> dict:
    return {"statusCode": status, "headers": {"content-type": "application/json", **(headers or {})},
            "body": json.dumps(body)}


def _mapping(event: dict, key: str) -> dict:
    """``event[key]`` when it is an object, {} when absent or null; BadRequest otherwise."""
    value = event.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"the event's {key} must be an object or null, got {preview(value)}")
    return value


def _method(event: dict) -> str:
    """The HTTP method: ``httpMethod`` (REST API, payload 1.0) or ``requestContext.http.method``
    (HTTP API, payload 2.0); GET when the event names none (a direct invocation)."""
    method = event.get("httpMethod")
    if method is None:
        method = _mapping(_mapping(event, "requestContext"), "http").get("method")
    if method is None:
        return "GET"
    if not isinstance(method, str):
        raise BadRequest(f"the event's HTTP method must be a string, got {preview(method)}")
    return method.upper()


def _path(event: dict) -> str:
    path = event.get("rawPath") or event.get("path")
    if path is None:
        raise BadRequest("the event has no rawPath or path")
    if not isinstance(path, str):
        raise BadRequest(f"the event's path must be a string, got {preview(path)}")
    return path


def _answer(event, cache, facts: RequestFacts) -> tuple[int, dict, dict | None]:
    """(status, body, extra headers) for ``event``; raises BadRequest or CacheUnavailable."""
    if not isinstance(event, dict):
        raise BadRequest(f"the event must be an API Gateway proxy event (a JSON object), got {preview(event)}")
    # the whole event is checked before routing: a malformed one is a 400 on every path
    method, path = _method(event), _path(event)
    params, query = _mapping(event, "pathParameters"), _mapping(event, "queryStringParameters")
    if _HEALTH.fullmatch(path):
        facts.route = "/health"
    elif (route := _RECOMMENDATIONS.fullmatch(path)) is not None:
        facts.route = "/recommendations/{user_id}"
    else:
        return 404, {"detail": f"no route {preview(path)}: {ROUTES}"}, None
    if method != "GET":
        return 405, {"detail": f"method {preview(method)} not allowed: {ROUTES}"}, {"allow": "GET"}
    cache = _cache() if cache is None else cache
    if facts.route == "/health":
        body = health(cache)
        facts.served = {key: body[key] for key in ("version", "list", "published_at")}
        return 200, body, None
    user_id = params.get("user_id") or route.group(1)
    k = parse_k(query["k"]) if "k" in query else DEFAULT_K
    response = recommend(cache, user_id, k)
    facts.answered(response)
    return 200, response.as_dict(), None


def handler(event, context=None, cache=None) -> dict:
    start = time.perf_counter()
    facts = RequestFacts(UNMATCHED, 500, 0.0)  # 500 unless an answer is reached: an exception escaped
    try:
        try:
            status, body, headers = _answer(event, cache, facts)
        except BadRequest as exc:
            status, body, headers = 400, {"detail": str(exc)}, None
        except CacheUnavailable:
            facts.cache_unavailable = True
            status, body, headers = 503, {"detail": "recommendation cache unavailable"}, None
        facts.status = status
        return _reply(status, body, headers)
    finally:
        facts.seconds = time.perf_counter() - start
        print(emf_line(facts), flush=True)  # Lambda's stdout is its CloudWatch log stream
