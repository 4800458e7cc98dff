"""The HTTP API (FastAPI on uvicorn) over the recommendation cache.

    GET /recommendations/{user_id}?k=12  → items, scores, model version, whether the fallback was used
    GET /health                          → 200 with the current version, 503 when the cache is down

Run locally against the embedded cache: ``make serve`` (see README).
"""

from __future__ import annotations

import json

from fastapi import FastAPI, Query
from fastapi.responses import JSONResponse, Response

from recs_service.caches import CacheUnavailable, RecommendationCache
from recs_service.service import DEFAULT_K, MAX_K, BadRequest, recommend, served_list


def create_app(cache: RecommendationCache) -> FastAPI:
    app = FastAPI(title="recs_assets", version="1")

    @app.exception_handler(CacheUnavailable)
    async def _cache_down(request, exc: CacheUnavailable):
        return JSONResponse(status_code=503, content={"detail": "recommendation cache unavailable"})

    @app.exception_handler(BadRequest)
    async def _bad_request(request, exc: BadRequest):
        return JSONResponse(status_code=400, content={"detail": str(exc)})

    @app.get("/health")
    def health():
        version = cache.current_version()
        live = cache.fallback()["model_version"] if version else None
        return {"status": "ok", "version": version, "list": served_list(live), "cache": cache.describe()}

    def answer(user_id: str, k: int) -> Response:
        # serialised here: FastAPI's generic encoder of a returned dict cost more than the cache read
        return Response(json.dumps(recommend(cache, user_id, k).as_dict()), media_type="application/json")

    if cache.local_reads:  # a local SQLite read, cheaper than a thread hop: answered on the event loop
        @app.get("/recommendations/{user_id}")
        async def recommendations(user_id: str, k: int = Query(DEFAULT_K, ge=1, le=MAX_K)):
            return answer(user_id, k)
    else:  # a network round trip (DynamoDB): in the thread pool, so one slow read does not stall the rest
        @app.get("/recommendations/{user_id}")
        def recommendations(user_id: str, k: int = Query(DEFAULT_K, ge=1, le=MAX_K)):
            return answer(user_id, k)

    return app


def app_from_environment() -> FastAPI:
    """The app over this environment's cache (``RECS_ENV``); used by ``uvicorn --factory``."""
    from recs_service.settings import cache_from_environment

    return create_app(cache_from_environment())
