"""The recommendation cache as Dagster resources: thin wrappers, configured per environment, over the
plain caches of the online package (``recs_service``), which hold all the logic and are what the API
and the Lambda handler read."""

from __future__ import annotations

from collections.abc import Iterable

from dagster import ConfigurableResource
from pydantic import Field

from recs_service.caches import LEASE_SECONDS, CacheUnavailable, PublishConflict, PublishReport, Recommendation, checked

__all__ = ["CacheUnavailable", "DynamoDBCache", "PublishConflict", "PublishReport", "Recommendation",
           "RecommendationCache", "SQLiteCache", "checked"]

_LEASE = ("How long a publish that stopped renewing its lease (killed, stalled) keeps what it wrote from"
          " clean-up; publishes renew it as they write.")


class RecommendationCache(ConfigurableResource):
    """What the pipeline needs of a cache; every call goes to ``plain()``, the online package's cache."""

    def plain(self):
        raise NotImplementedError

    def publish(self, version: str, rows: Iterable[Recommendation], fallback: list, model_version: str) -> PublishReport:
        return self.plain().publish(version, rows, fallback, model_version)

    def get(self, user_id: str) -> dict | None:
        return self.plain().get(user_id)

    def fallback(self) -> dict:
        return self.plain().fallback()

    def current_version(self) -> str | None:
        return self.plain().current_version()

    def describe(self) -> str:
        return self.plain().describe()


class SQLiteCache(RecommendationCache):
    """The local cache: one SQLite file in WAL mode (``recs_service.caches.SQLiteCache``)."""

    path: str = Field(description="SQLite file holding every version and the pointer.")
    batch_size: int = 10_000
    lease_seconds: float = Field(LEASE_SECONDS, gt=0, description=_LEASE)

    def plain(self):
        from recs_service.caches import SQLiteCache as Plain

        return Plain(**self.model_dump())


class DynamoDBCache(RecommendationCache):
    """The production cache: a DynamoDB table per version and a pointer table (``recs_service.dynamodb``)."""

    table_prefix: str = "recs"
    endpoint_url: str | None = Field(None, description="e.g. a moto server or DynamoDB Local; None = AWS")
    region_name: str | None = None
    max_attempts: int = Field(8, description="BatchWriteItem attempts before a publish fails")
    backoff_seconds: float = 0.05
    writers: int = Field(8, ge=1, description="Threads sending BatchWriteItem calls at once (on-demand tables"
                         " absorb them; for a provisioned table keep writers x 25 items/call within its WCU)")
    lease_seconds: float = Field(LEASE_SECONDS, gt=0, description=_LEASE)

    def plain(self):
        from recs_service.dynamodb import DynamoDBCache as Plain

        return Plain(**self.model_dump())
