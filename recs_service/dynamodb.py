"""DynamoDB backend of the recommendation cache (boto3; AWS, DynamoDB Local or moto by endpoint).

Each publish writes its own table ``{prefix}-{16 hex digits}`` keyed by ``user_id``; a pointer table
``{prefix}-pointer`` holds the item ``current`` naming the live table, the previous one, the model version
and the fallback list, and one ``lease:<table>`` item per publish in progress (its table, version and
expiry). A publish takes its lease before creating its table, fills the table (BatchWriteItem, unprocessed
items retried with exponential backoff, the lease renewed as it goes), then flips the pointer in one
transaction that also releases the lease: the flip happens only if the pointer is still the one the
publisher read at its start (else ``PublishConflict``, and the publisher removes its table) and its lease
is still unexpired. Clean-up then deletes this cache's tables (exact name pattern, every page of
``ListTables``: another environment's ``{prefix}-staging-…`` tables are never touched) that neither the
pointer (live or previous) nor an unexpired lease names: a publish in progress keeps its table, a killed
publisher's table goes once its lease has expired. The previous version stays for a reader that read the
pointer just before the flip; a reader that still misses its table re-reads the pointer once. Items never
expire: the live version must outlive any pause in publishing.

One boto3 client per cache object serves every read and publish (clients are thread-safe; building one
costs far more than a read).
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from recs_service.caches import (
    LEASE_SECONDS,
    CacheUnavailable,
    PublishConflict,
    PublishReport,
    Recommendation,
    RecommendationCache,
    checked,
)

_LEASE = "lease:"  # pointer-table items of publishes in progress: lease:<their table>
# every attribute through a placeholder: several of these names are DynamoDB reserved words
_NAMES = {"#n": "name", "#v": "version", "#t": "table", "#f": "flips", "#e": "expires_at"}


def _number(x) -> Decimal:
    return Decimal(str(round(float(x), 6)))


def _ids(values) -> dict:
    """A list of article ids as a DynamoDB list attribute (numbers stay numbers)."""
    return {"L": [{"N": str(i)} if isinstance(i, int) else {"S": str(i)} for i in values]}


def _identity(pointer: dict | None):
    """What a conditional flip compares: the flip count, or (for a pointer written before flips were
    counted) the version and table."""
    if pointer is None:
        return None
    return ("flips", pointer["flips"]["N"]) if "flips" in pointer else (pointer["version"]["S"], pointer["table"]["S"])


def _plain(values):
    return [int(v) if isinstance(v, Decimal) and v == v.to_integral_value() else
            float(v) if isinstance(v, Decimal) else v for v in values]


@dataclass
class DynamoDBCache(RecommendationCache):
    """``endpoint_url``: a moto server or DynamoDB Local (None: AWS); ``max_attempts``: BatchWriteItem
    attempts before a publish fails; ``writers``: threads sending BatchWriteItem calls at once (on-demand
    tables absorb them; for a provisioned table keep writers x 25 items per call within its capacity);
    ``lease_seconds``: how long a publish that stopped renewing its lease keeps its table from clean-up
    (also the margin for clock differences between publishers); ``session``: the boto3 session the
    client is built from (default: a new one for this cache)."""

    table_prefix: str = "recs"
    endpoint_url: str | None = None
    region_name: str | None = None
    max_attempts: int = 8
    backoff_seconds: float = 0.05
    writers: int = 8
    lease_seconds: float = LEASE_SECONDS
    session: object = field(default=None, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)
    _shared: object = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.writers < 1:
            raise ValueError(f"writers must be at least 1, got {self.writers}")
        if not self.lease_seconds > 0:
            raise ValueError(f"lease_seconds must be positive, got {self.lease_seconds}")

    def _client(self):
        """This cache's one client, built on first use (a boto3 session is not thread-safe while it
        builds a client, hence the lock; the client itself is shared by every thread)."""
        with self._lock:
            if self._shared is None:
                import boto3

                session = self.session or boto3.session.Session()
                self._shared = session.client("dynamodb", endpoint_url=self.endpoint_url, region_name=self.region_name)
            return self._shared

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

    def _write_all(self, client, table: str, requests: Iterable[dict], renew: Callable[[], None] | None = None) -> int:
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
                if renew:
                    renew()
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
            removed = self._collect(client)
            return PublishReport(version, 0, time.perf_counter() - start, already_current=True, removed_versions=removed)
        table = f"{self.table_prefix}-{uuid.uuid4().hex[:16]}"  # per attempt: no two publishes share a table
        lease = _LEASE + table
        # the lease exists before the table does: clean-up lists tables before it reads leases, so it
        # never sees this table without its lease
        client.put_item(TableName=self.pointer_table, ConditionExpression="attribute_not_exists(#n)",
                        ExpressionAttributeNames={"#n": "name"}, Item={
                            "name": {"S": lease}, "table": {"S": table}, "version": {"S": version},
                            "expires_at": {"N": str(time.time() + self.lease_seconds)}})
        try:
            self._ensure_table(client, table, "user_id")
            now = time.time()
            items = ({"PutRequest": {"Item": {
                "user_id": {"S": str(rec.user_id)},
                "items": _ids(rec.items),
                "scores": {"L": [{"N": str(_number(s))} for s in rec.scores]},
                "model_version": {"S": model_version},
                "created_at": {"N": str(now)},
            }}} for rec in map(checked, rows))
            count = self._write_all(client, table, items, renew=self._renewer(client, lease, version))
            won = self._flip(client, current, lease, {
                "name": {"S": "current"}, "version": {"S": version}, "table": {"S": table},
                **({"previous": {"S": current["table"]["S"]}} if current else {}),
                "flips": {"N": str(int(current["flips"]["N"]) + 1 if current and "flips" in current else 1)},
                "model_version": {"S": model_version}, "created_at": {"N": str(now)}, "rows": {"N": str(count)},
                "fallback": _ids(fallback),
            })
        except BaseException:
            self._abandon(client, lease, table)
            raise
        if not won:  # another publish of this same version flipped first: it is live, ours is not needed
            self._abandon(client, lease, table)
            return PublishReport(version, 0, time.perf_counter() - start, already_current=True,
                                 removed_versions=self._collect(client))
        return PublishReport(version, count, time.perf_counter() - start, removed_versions=self._collect(client))

    def _renewer(self, client, lease: str, version: str) -> Callable[[], None]:
        """Called for every item written: extends the lease once a third of it has passed, and raises
        PublishConflict when it had expired (clean-up may have deleted the table being written)."""
        renewed = [time.monotonic()]

        def renew() -> None:
            if time.monotonic() - renewed[0] < self.lease_seconds / 3:
                return
            now = time.time()
            try:
                client.update_item(
                    TableName=self.pointer_table, Key={"name": {"S": lease}},
                    UpdateExpression="SET #e = :new", ConditionExpression="attribute_exists(#n) AND #e > :now",
                    ExpressionAttributeNames={"#n": "name", "#e": "expires_at"},
                    ExpressionAttributeValues={":new": {"N": str(now + self.lease_seconds)}, ":now": {"N": str(now)}})
            except client.exceptions.ConditionalCheckFailedException:
                raise self._lease_lost(version) from None
            renewed[0] = time.monotonic()

        return renew

    def _lease_lost(self, version: str) -> PublishConflict:
        return PublishConflict(
            f"DynamoDB cache {self.table_prefix}: the lease of this publish of {version!r} expired (it stalled longer"
            f" than lease_seconds={self.lease_seconds}); its table may be deleted, nothing is published")

    def _flip(self, client, read: dict | None, lease: str, pointer: dict) -> bool:
        """Points ``current`` at the new table and releases the lease, in one transaction that holds only
        if the pointer is still ``read`` and the lease is unexpired. False when another publish of the
        same version flipped first; PublishConflict when another version did, or the lease expired."""
        if read is None:
            unchanged, values = "attribute_not_exists(#n)", {}
        elif "flips" in read:
            unchanged, values = "#f = :flips", {":flips": read["flips"]}
        else:  # a pointer written before flips were counted
            unchanged, values = "attribute_not_exists(#f) AND #v = :v AND #t = :t", {":v": read["version"], ":t": read["table"]}
        now = time.time()
        try:
            client.transact_write_items(TransactItems=[
                {"Delete": {"TableName": self.pointer_table, "Key": {"name": {"S": lease}},
                            "ConditionExpression": "attribute_exists(#n) AND #e > :now",
                            "ExpressionAttributeNames": {"#n": "name", "#e": "expires_at"},
                            "ExpressionAttributeValues": {":now": {"N": str(now)}}}},
                {"Put": {"TableName": self.pointer_table, "Item": pointer, "ConditionExpression": unchanged,
                         "ExpressionAttributeNames": {k: v for k, v in _NAMES.items() if k in unchanged},
                         **({"ExpressionAttributeValues": values} if values else {})}},
            ])
            return True
        except client.exceptions.TransactionCanceledException:
            pass
        version = pointer["version"]["S"]
        moved = self._pointer(client)
        if _identity(moved) == _identity(read):
            raise self._lease_lost(version)
        if moved and moved["version"]["S"] == version:
            return False
        raise PublishConflict(
            f"DynamoDB cache {self.table_prefix}: another publish moved the pointer from"
            f" {read['version']['S'] if read else None!r} to {moved['version']['S'] if moved else None!r} while this"
            f" one wrote {version!r}; {version!r} is not published and its table is removed")

    def _abandon(self, client, lease: str, table: str) -> None:
        """A failed publish releases its lease and deletes its table, unless the pointer names the table
        (a flip that succeeded although its answer was lost)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            client.delete_item(TableName=self.pointer_table, Key={"name": {"S": lease}})
            pointer = self._pointer(client) or {}
            if table not in {pointer.get("table", {}).get("S"), pointer.get("previous", {}).get("S")}:
                client.delete_table(TableName=table)
        except (BotoCoreError, ClientError):
            pass  # the publish's own error matters more; clean-up removes the table once the lease is gone

    def _collect(self, client) -> tuple[str, ...]:
        """Deletes this cache's tables that neither the pointer (live, previous) nor an unexpired lease
        names. Order matters: tables are listed first, then leases, then the pointer, so a table listed
        here had its lease written already, and a lease released by a flip is seen in the pointer."""
        tables = [name for name in self._all_tables(client) if self.owns(name)]
        leases = [item for page in client.get_paginator("scan").paginate(TableName=self.pointer_table, ConsistentRead=True)
                  for item in page["Items"] if item["name"]["S"].startswith(_LEASE)]
        pointer = self._pointer(client) or {}
        keep = {pointer.get("table", {}).get("S"), pointer.get("previous", {}).get("S")}
        now = time.time()
        for item in leases:
            if float(item["expires_at"]["N"]) > now:
                keep.add(item["table"]["S"])
                continue
            try:  # an expired lease is released first: its publisher can then neither renew it nor flip
                client.delete_item(TableName=self.pointer_table, Key={"name": item["name"]},
                                   ConditionExpression="#e = :seen", ExpressionAttributeNames={"#e": "expires_at"},
                                   ExpressionAttributeValues={":seen": item["expires_at"]})
            except client.exceptions.ConditionalCheckFailedException:
                keep.add(item["table"]["S"])  # renewed just now: still in progress
        removed = []
        for name in tables:
            if name not in keep:
                try:
                    client.delete_table(TableName=name)
                except client.exceptions.ResourceNotFoundException:
                    continue  # another publish's clean-up got there first
                removed.append(name)
        return tuple(removed)

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
