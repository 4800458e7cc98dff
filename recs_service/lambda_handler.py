"""AWS Lambda entry point for API Gateway (REST or HTTP API proxy events), over the same service code."""

from __future__ import annotations

import json
import re

from recs_service.caches import CacheUnavailable
from recs_service.service import BadRequest, recommend

_CACHE = None
# API Gateway paths, with or without a stage prefix (/prod/recommendations/u1): nothing else is a route
_RECOMMENDATIONS = re.compile(r"(?:.*/)?recommendations/([^/]*)/?")
_HEALTH = re.compile(r"(?:.*/)?health/?")


def _cache():
    global _CACHE
    if _CACHE is None:  # built once per Lambda container, from the environment (RECS_ENV=prod)
        from recs_service.settings import cache_from_environment

        _CACHE = cache_from_environment()
    return _CACHE


def _reply(status: int, body: dict) -> dict:
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def handler(event: dict, context=None, cache=None) -> dict:
    cache = cache or _cache()
    path = event.get("rawPath") or event.get("path") or ""
    params = event.get("pathParameters") or {}
    query = event.get("queryStringParameters") or {}
    try:
        if _HEALTH.fullmatch(path):
            return _reply(200, {"status": "ok", "version": cache.current_version()})
        route = _RECOMMENDATIONS.fullmatch(path)
        if route is None:
            return _reply(404, {"detail": f"no route {path!r}: GET /recommendations/{{user_id}} or /health"})
        user_id = params.get("user_id") or route.group(1)
        try:
            k = int(query.get("k", 12))
        except ValueError:
            raise BadRequest(f"k must be an integer, got {query.get('k')!r}") from None
        return _reply(200, recommend(cache, user_id, k).as_dict())
    except BadRequest as exc:
        return _reply(400, {"detail": str(exc)})
    except CacheUnavailable:
        return _reply(503, {"detail": "recommendation cache unavailable"})
