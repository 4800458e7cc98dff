"""The HTTP API (FastAPI on uvicorn) over the recommendation cache.

    GET /recommendations/{user_id}?k=12  → items, scores, model version, whether the fallback was used
    GET /health                          → 200 with the live version, its list and the kind of cache;
                                           503 when the cache is down
    GET /metrics                         → Prometheus metrics (``recs_service.metrics``)

Run locally against the embedded cache: ``make serve`` (see README).
"""

from __future__ import annotations

import json
import time
from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BeforeValidator

from recs_service.caches import CacheUnavailable, RecommendationCache
from recs_service.metrics import UNMATCHED, PrometheusMetrics, RequestFacts
from recs_service.service import (DEFAULT_K, MAX_K, MIN_K, PREVIEW_CHARS, BadRequest, health, parse_k,
                                  recommend)


def _k(raw):
    """The query's ``k`` through the service's one definition (pydantic's own int parsing would take
    "1_0", " 2 " or "+3"); a ValueError becomes FastAPI's 422."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)  # the default, or a caller passing a number
    try:
        return parse_k(raw)
    except BadRequest as exc:
        raise ValueError(str(exc)) from None


K = Annotated[int, Query(ge=MIN_K, le=MAX_K, description=f"list length, {MIN_K}-{MAX_K}"), BeforeValidator(_k)]


class _Measured:
    """ASGI middleware: one ``RequestFacts`` per HTTP request. The route label is the matched route's
    template (Starlette sets ``scope["route"]`` while routing). Recorded just before the response's
    last bytes go out, so a client that has its answer finds it counted (a scrape that follows counts it)."""

    def __init__(self, app, metrics: PrometheusMetrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        facts = RequestFacts(UNMATCHED, 500, 0.0)  # 500 unless a response starts: an exception escaped
        scope.setdefault("state", {})["facts"] = facts
        recorded = False

        def record():
            nonlocal recorded
            recorded = True
            facts.route = getattr(scope.get("route"), "path", None) or UNMATCHED
            facts.seconds = time.perf_counter() - start
            self.metrics.record(facts)

        async def sending(message):
            if message["type"] == "http.response.start":
                facts.status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body") and not recorded:
                record()
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            if not recorded:  # no complete response: an exception, or the client went away
                record()


def create_app(cache: RecommendationCache, metrics: PrometheusMetrics | None = None) -> FastAPI:
    metrics = metrics or PrometheusMetrics(cache)
    app = FastAPI(title="recs_assets", version="1")
    app.add_middleware(_Measured, metrics=metrics)

    @app.exception_handler(CacheUnavailable)
    async def _cache_down(request, exc: CacheUnavailable):
        request.state.facts.cache_unavailable = True
        return JSONResponse(status_code=503, content={"detail": "recommendation cache unavailable"})

    @app.exception_handler(BadRequest)
    async def _bad_request(request, exc: BadRequest):
        return JSONResponse(status_code=400, content={"detail": str(exc)})

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, exc: RequestValidationError):
        # FastAPI's own body repeats each bad value whole ("input"): only where and what, bounded
        detail = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))[:4 * PREVIEW_CHARS + 80],
                   "type": e.get("type")} for e in exc.errors()[:5]]
        return JSONResponse(status_code=422, content={"detail": detail})

    @app.get("/health")
    def health_check():
        return health(cache)

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics():
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    def answer(request, user_id: str, k: int) -> Response:
        response = recommend(cache, user_id, k)
        request.state.facts.answered(response)
        # serialised here: FastAPI's generic encoder of a returned dict cost more than the cache read
        return Response(json.dumps(response.as_dict()), media_type="application/json")

    if cache.local_reads:  # a local SQLite read, cheaper than a thread hop: answered on the event loop
        @app.get("/recommendations/{user_id}")
        async def recommendations(request: Request, user_id: str, k: K = DEFAULT_K):
            return answer(request, user_id, k)
    else:  # a network round trip (DynamoDB): in the thread pool, so one slow read does not stall the rest
        @app.get("/recommendations/{user_id}")
        def recommendations(request: Request, user_id: str, k: K = DEFAULT_K):
            return answer(request, user_id, k)

    return app


def app_from_environment() -> FastAPI:
    """The app over this environment's cache (``RECS_ENV``); used by ``uvicorn --factory``."""
    from recs_service.settings import cache_from_environment

    return create_app(cache_from_environment())
