"""DynamoDB backend of the recommendation cache (boto3; AWS, DynamoDB Local or moto by endpoint).

Each published version is its own table ``{prefix}-{16 hex digits}`` keyed by ``user_id``; a pointer
table ``{prefix}-pointer`` holds one item naming the current table, the previous one, the model version
and the fallback list. Publishing fills the new table (BatchWriteItem, unprocessed items retried with
exponential backoff), then flips the pointer with one PutItem, then deletes this cache's version tables
other than the current and the previous one (exact name pattern, every page of ``ListTables``: another
environment's ``{prefix}-staging-…`` tables are never touched). The previous version stays for a reader
that read the pointer just before the flip; a reader that still misses its table re-reads the pointer
once. Items never expire: the live version must outlive any pause in publishing (a superseded table
is deleted whole, two publishes later).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from recs_service.caches import CacheUnavailable, PublishReport, Recommendation, RecommendationCache, checked


def _table_suffix(version: str) -> str:
    return hashlib.sha1(version.encode()).hexdigest()[:16]


def _number(x) -> Decimal:
    return Decimal(str(round(float(x), 6)))


def _ids(values) -> dict:
    """A list of article ids as a DynamoDB list attribute (numbers stay numbers)."""
    return {"L": [{"N": str(i)} if isinstance(i, int) else {"S": str(i)} for i in values]}


def _plain(values):
    return [int(v) if isinstance(v, Decimal) and v == v.to_integral_value() else
            float(v) if isinstance(v, Decimal) else v for v in values]


@dataclass
class DynamoDBCache(RecommendationCache):
    """``endpoint_url``: a moto server or DynamoDB Local (None: AWS); ``max_attempts``: BatchWriteItem
    attempts before a publish fails; ``writers``: threads sending BatchWriteItem calls at once (on-demand
    tables absorb them; for a provisioned table keep writers x 25 items per call within its capacity)."""

    table_prefix: str = "recs"
    endpoint_url: str | None = None
    region_name: str | None = None
    max_attempts: int = 8
    backoff_seconds: float = 0.05
    writers: int = 8

    def __post_init__(self):
        if self.writers < 1:
            raise ValueError(f"writers must be at least 1, got {self.writers}")

    def _client(self):
        import boto3

        return boto3.client("dynamodb", endpoint_url=self.endpoint_url, region_name=self.region_name)

    @property
    def pointer_table(self) -> str:
        return f"{self.table_prefix}-pointer"

    def _ensure_table(self, client, name: str, key: str) -> None:
        try:
            client.create_table(
                TableName=name, BillingMode="PAY_PER_REQUEST",
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            )
        except client.exceptions.ResourceInUseException:
            return
        client.get_waiter("table_exists").wait(TableName=name)

    def owns(self, name: str) -> bool:
        """Whether ``name`` is one of this cache's version tables (and nobody else's)."""
        return re.fullmatch(re.escape(self.table_prefix) + r"-[0-9a-f]{16}", name) is not None

    def _all_tables(self, client) -> list[str]:
        return [name for page in client.get_paginator("list_tables").paginate() for name in page["TableNames"]]

    def _pointer(self, client) -> dict | None:
        try:
            item = client.get_item(TableName=self.pointer_table, Key={"name": {"S": "current"}}, ConsistentRead=True)
        except client.exceptions.ResourceNotFoundException:
            return None
        return item.get("Item")

    def write_batch(self, client, table: str, requests: list[dict]) -> None:
        """BatchWriteItem with retries of unprocessed items and exponential backoff."""
        pending = {table: requests}
        for attempt in range(self.max_attempts):
            response = client.batch_write_item(RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                return
            time.sleep(self.backoff_seconds * 2**attempt)
        left = sum(len(v) for v in pending.values())
        raise RuntimeError(f"DynamoDB left {left} items unprocessed after {self.max_attempts} attempts")

    def _write_all(self, client, table: str, requests: Iterable[dict]) -> int:
        """Every request, in 25-item batches sent by ``writers`` threads (boto3 clients are thread-safe);
        at most ``2 * writers`` batches in flight, so memory stays bounded at any number of rows. The
        first failed batch fails the publish (before the pointer flips)."""
        from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

        count, batch, running = 0, [], set()
        with ThreadPoolExecutor(max_workers=self.writers) as pool:
            def send(chunk: list[dict]) -> None:
                nonlocal running
                if len(running) >= 2 * self.writers:
                    done, running = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        future.result()
                running.add(pool.submit(self.write_batch, client, table, chunk))

            for request in requests:
                batch.append(request)
                if len(batch) == 25:
                    send(batch)
                    count, batch = count + 25, []
            if batch:
                send(batch)
                count += len(batch)
            for future in running:
                future.result()
        return count

    def publish(self, version: str, rows: Iterable[Recommendation], fallback: list, model_version: str) -> PublishReport:
        start = time.perf_counter()
        client = self._client()
        self._ensure_table(client, self.pointer_table, "name")
        current = self._pointer(client)
        if current and current["version"]["S"] == version:
            return PublishReport(version, 0, time.perf_counter() - start, already_current=True)
        table = f"{self.table_prefix}-{_table_suffix(version)}"
        self._ensure_table(client, table, "user_id")
        now = time.time()
        items = ({"PutRequest": {"Item": {
            "user_id": {"S": str(rec.user_id)},
            "items": _ids(rec.items),
            "scores": {"L": [{"N": str(_number(s))} for s in rec.scores]},
            "model_version": {"S": model_version},
            "created_at": {"N": str(now)},
        }}} for rec in map(checked, rows))
        count = self._write_all(client, table, items)
        previous = current["table"]["S"] if current and current["table"]["S"] != table else None
        client.put_item(TableName=self.pointer_table, Item={
            "name": {"S": "current"}, "version": {"S": version}, "table": {"S": table},
            **({"previous": {"S": previous}} if previous else {}),
            "model_version": {"S": model_version}, "created_at": {"N": str(now)}, "rows": {"N": str(count)},
            "fallback": _ids(fallback),
        })
        removed = []
        for name in self._all_tables(client):  # the one before the previous, and crashed publishes' tables
            if self.owns(name) and name not in (table, previous):
                client.delete_table(TableName=name)
                removed.append(name)
        return PublishReport(version, count, time.perf_counter() - start, removed_versions=tuple(removed))

    def _read(self, fn):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(self._client())
        except (BotoCoreError, ClientError) as exc:
            raise CacheUnavailable(f"DynamoDB cache {self.table_prefix}: {exc}") from exc

    def current_version(self) -> str | None:
        pointer = self._read(self._pointer)
        return pointer["version"]["S"] if pointer else None

    def get(self, user_id: str) -> dict | None:
        def read(client):
            for attempt in (1, 2):
                pointer = self._pointer(client)
                if pointer is None:
                    raise CacheUnavailable(f"DynamoDB cache {self.table_prefix} has no published version")
                try:
                    return client.get_item(TableName=pointer["table"]["S"], Key={"user_id": {"S": user_id}},
                                           ConsistentRead=True).get("Item")
                except client.exceptions.ResourceNotFoundException:
                    if attempt == 2:  # two publishes went by between our reads of the pointer and the table
                        raise

        item = self._read(read)
        if item is None:
            return None
        return {
            "items": _plain([Decimal(v["N"]) if "N" in v else v["S"] for v in item["items"]["L"]]),
            "scores": [float(v["N"]) for v in item["scores"]["L"]],
            "model_version": item["model_version"]["S"],
            "created_at": float(item["created_at"]["N"]),
        }

    def fallback(self) -> dict:
        pointer = self._read(self._pointer)
        if pointer is None:
            raise CacheUnavailable(f"DynamoDB cache {self.table_prefix} has no published version")
        return {
            "items": _plain([Decimal(v["N"]) if "N" in v else v["S"] for v in pointer["fallback"]["L"]]),
            "scores": None, "model_version": pointer["model_version"]["S"],
            "created_at": float(pointer["created_at"]["N"]),
        }

    def describe(self) -> str:
        return f"dynamodb:{self.endpoint_url or 'aws'}/{self.table_prefix}"
