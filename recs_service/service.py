"""What one recommendation request does, shared by the HTTP API and the Lambda handler.

What a request may say is defined here once (the user id pattern, the range and spelling of ``k``,
how much of a bad value an error message repeats); the API and the handler each answer a violation
in their own convention (FastAPI: 422 for ``k``; both: 400 for a user id).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from recs_service.caches import RecommendationCache

USER_ID_PATTERN = re.compile(r"[A-Za-z0-9_\-]{1,128}")  # the whole id must match (fullmatch: no trailing newline)
USER_ID_RULE = "1-128 characters of letters, digits, '_' or '-'"
MIN_K, MAX_K = 1, 100
DEFAULT_K = 12  # the list length the pipeline scores, stores and serves (H&M's competition scored the top 12)
# ASCII digits only, and few of them: int() alone also takes "1_0", " 2 ", "+3" and "٢"
K_PATTERN = re.compile(r"[0-9]{1,3}")
K_RULE = f"a whole number from {MIN_K} to {MAX_K} in ASCII digits"
PREVIEW_CHARS = 40  # an error message repeats at most this much of what a client sent


BASELINE_PREFIX = "baseline:"  # the model version of a published baseline: baseline:<name>:<settings digest>


def served_list(model_version: str | None) -> str:
    """Which list a version holds: "ranker", or "baseline <name>" when a baseline was published instead."""
    if model_version and model_version.startswith(BASELINE_PREFIX):
        return "baseline " + model_version[len(BASELINE_PREFIX):].split(":", 1)[0]
    return "ranker" if model_version else "none"


def live(cache: RecommendationCache) -> tuple[str | None, str | None]:
    """(the live version, its model version), or (None, None) when nothing is published or the cache cannot say."""
    from recs_service.caches import CacheUnavailable

    try:
        version = cache.current_version()
        return (version, cache.fallback()["model_version"]) if version else (None, None)
    except CacheUnavailable:
        return None, None


def backend_kind(cache: RecommendationCache) -> str:
    """"sqlite", "dynamodb", ...: which kind of cache, and nothing that locates it (no file path,
    endpoint or table name, which ``describe()`` gives and a public health check must not)."""
    return type(cache).__name__.removesuffix("Cache").lower() or "cache"


def health(cache: RecommendationCache) -> dict:
    """What ``/health`` says: the live version, its list and publish time, the kind of cache.
    Raises ``CacheUnavailable`` when the cache cannot answer."""
    version = cache.current_version()
    current = cache.fallback() if version else None
    return {"status": "ok", "version": version, "list": served_list(current and current["model_version"]),
            "published_at": current and current["created_at"], "cache": backend_kind(cache)}


class BadRequest(ValueError):
    """The request is malformed; the message says how."""


@dataclass(frozen=True)
class RecommendationResponse:
    user_id: str
    items: list
    scores: list[float] | None
    model_version: str
    fallback: bool
    k: int
    published_at: float | None = None  # when the answering version was published (metrics, not the body)

    def as_dict(self) -> dict:
        # complete: False when the cache holds fewer than k items for this user (it stores the
        # pipeline's list length, 12 by default): the response says so instead of silently shrinking
        return {"user_id": self.user_id, "items": self.items, "scores": self.scores,
                "model_version": self.model_version, "list": served_list(self.model_version), "fallback": self.fallback,
                "complete": self.complete}

    @property
    def complete(self) -> bool:
        return len(self.items) >= self.k


def preview(value) -> str:
    """``value`` as an error message may show it: a short prefix of a string (with its length when
    cut), a number as it is, anything else by its type only."""
    if isinstance(value, str):
        if len(value) <= PREVIEW_CHARS:
            return repr(value)
        return f"{value[:PREVIEW_CHARS]!r}... ({len(value)} characters)"
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)[:PREVIEW_CHARS]
    return f"a {type(value).__name__}"


def check_user_id(user_id) -> str:
    if not isinstance(user_id, str) or not USER_ID_PATTERN.fullmatch(user_id):
        raise BadRequest(f"user_id must be {USER_ID_RULE}, got {preview(user_id)}")
    return user_id


def parse_k(raw) -> int:
    """``k`` as a query string gives it (a string), checked against ``K_PATTERN`` and the range."""
    if isinstance(raw, str) and K_PATTERN.fullmatch(raw) and MIN_K <= int(raw) <= MAX_K:
        return int(raw)
    raise BadRequest(f"k must be {K_RULE}, got {preview(raw)}")


def validate(user_id: str, k: int) -> None:
    check_user_id(user_id)
    if isinstance(k, bool) or not isinstance(k, int) or not MIN_K <= k <= MAX_K:
        raise BadRequest(f"k must be {K_RULE}, got {preview(k)}")


def recommend(cache: RecommendationCache, user_id: str, k: int) -> RecommendationResponse:
    """The user's top k from the cache, or the popular fallback for unknown users.

    Raises ``BadRequest`` for malformed input and ``CacheUnavailable`` when the cache cannot answer.
    """
    validate(user_id, k)
    record = cache.get(user_id)
    if record is None:
        fallback = cache.fallback()
        return RecommendationResponse(user_id, fallback["items"][:k], None, fallback["model_version"], True, k,
                                      fallback.get("created_at"))
    return RecommendationResponse(user_id, record["items"][:k], record["scores"][:k], record["model_version"], False, k,
                                  record.get("created_at"))
