"""What one recommendation request does, shared by the HTTP API and the Lambda handler."""

from __future__ import annotations

import re
from dataclasses import dataclass

from recs_service.caches import RecommendationCache

USER_ID_PATTERN = re.compile(r"[A-Za-z0-9_\-]{1,128}")  # the whole id must match (fullmatch: no trailing newline)
MAX_K = 100
DEFAULT_K = 12  # the list length the pipeline scores, stores and serves (H&M's competition scored the top 12)


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

    def as_dict(self) -> dict:
        # complete: False when the cache holds fewer than k items for this user (it stores the
        # pipeline's list length, 12 by default): the response says so instead of silently shrinking
        return {"user_id": self.user_id, "items": self.items, "scores": self.scores,
                "model_version": self.model_version, "list": served_list(self.model_version), "fallback": self.fallback,
                "complete": len(self.items) >= self.k}


def validate(user_id: str, k: int) -> None:
    if not isinstance(user_id, str) or not USER_ID_PATTERN.fullmatch(user_id):
        raise BadRequest("user_id must be 1-128 characters of letters, digits, '_' or '-'")
    if not 1 <= k <= MAX_K:
        raise BadRequest(f"k must be between 1 and {MAX_K}, got {k}")


def recommend(cache: RecommendationCache, user_id: str, k: int) -> RecommendationResponse:
    """The user's top k from the cache, or the popular fallback for unknown users.

    Raises ``BadRequest`` for malformed input and ``CacheUnavailable`` when the cache cannot answer.
    """
    validate(user_id, k)
    record = cache.get(user_id)
    if record is None:
        fallback = cache.fallback()
        return RecommendationResponse(user_id, fallback["items"][:k], None, fallback["model_version"], True, k)
    return RecommendationResponse(user_id, record["items"][:k], record["scores"][:k], record["model_version"], False, k)
