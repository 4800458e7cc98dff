"""Serving benchmark: top-k throughput, cache publish throughput, API latency on loopback.

    uv run python -m benchmarks.serving                 # defaults below
    uv run python -m benchmarks.serving --users 200000 --items 105542 --rate 300

1. top-k (k=12, dim 64, random embeddings): our blocked argpartition vs a brute-force numpy full
   sort, and faiss-cpu's exact inner-product index (IndexFlatIP) when it imports. Users/s.
2. publish: rows/s into SQLite, and into DynamoDB on a moto server over HTTP (fewer rows: moto is
   an emulator, so this measures our client path, not AWS).
3. API: uvicorn in a separate process over the SQLite cache; requests at a fixed rate for a fixed
   time from 4 client threads; latency p50/p99 and errors.
Writes benchmarks/results/serving.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def bench_topk(n_users: int, n_items: int, dim: int = 64, k: int = 12) -> list[dict]:
    from recs_assets.core.topk import top_k

    rng = np.random.default_rng(0)
    users = rng.normal(size=(n_users, dim)).astype(np.float32)
    items = rng.normal(size=(n_items, dim)).astype(np.float32)
    rows = []

    def timed(name, fn, n):
        start = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - start
        rows.append({"bench": "topk", "method": name, "users": n, "items": n_items,
                     "seconds": round(seconds, 3), "users_per_second": round(n / seconds)})
        return out

    ours = timed("recs_assets blocked argpartition", lambda: top_k(users, items, k)[0], n_users)
    sample = min(n_users, 5_000)  # the full sort is slow: time it on a sample, compare on it
    brute = timed("numpy full sort (reference)",
                  lambda: np.concatenate([np.argsort(-(users[s:min(s + 2048, sample)] @ items.T), axis=1, kind="stable")[:, :k]
                                          for s in range(0, sample, 2048)]), sample)
    agreement = float((ours[:sample] == brute).mean())
    rows[-1]["agreement_with_ours"] = round(agreement, 6)
    try:
        import faiss

        index = faiss.IndexFlatIP(dim)
        index.add(items)
        _, found = timed("faiss IndexFlatIP (exact)", lambda: index.search(users, k), n_users)
        rows[-1]["agreement_with_ours"] = round(float((found == ours).mean()), 6)
    except ImportError:
        rows.append({"bench": "topk", "method": "faiss", "note": "faiss-cpu not installed"})
    return rows


def bench_publish(n_sqlite: int, n_dynamo: int) -> list[dict]:
    from recs_service.caches import Recommendation, SQLiteCache
    from recs_service.dynamodb import DynamoDBCache

    def recs(n):
        return (Recommendation(f"user{i}", list(range(i % 1000, i % 1000 + 12)), [1.0 - j / 12 for j in range(12)])
                for i in range(n))

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        report = SQLiteCache(path=f"{tmp}/c.sqlite").publish("v1", recs(n_sqlite), [1], "bench")
        rows.append({"bench": "publish", "backend": "sqlite", "rows": report.rows,
                     "seconds": round(report.seconds, 2), "rows_per_second": round(report.rows / report.seconds)})
    from moto.server import ThreadedMotoServer

    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(var, "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        for writers in (1, 8):
            cache = DynamoDBCache(endpoint_url=f"http://{host}:{port}", table_prefix=f"w{writers}", writers=writers)
            report = cache.publish("v1", recs(n_dynamo), [1], "bench")
            rows.append({"bench": "publish", "backend": "dynamodb (moto server, HTTP)", "writers": writers,
                         "rows": report.rows, "seconds": round(report.seconds, 2),
                         "rows_per_second": round(report.rows / report.seconds)})
    finally:
        server.stop()
    return rows


def bench_api(n_users: int, rate: float, seconds: float) -> list[dict]:
    import httpx

    from benchmarks.api_load import start_api
    from recs_service.caches import Recommendation, SQLiteCache

    with tempfile.TemporaryDirectory() as tmp:
        SQLiteCache(path=f"{tmp}/recommendations.sqlite").publish(
            "v1", (Recommendation(f"user{i}", list(range(12)), [0.5] * 12) for i in range(n_users)), [1], "bench")
        url, server = start_api(Path(tmp))
        try:
            n = int(rate * seconds)
            rng = np.random.default_rng(1)
            users = [f"user{u}" if u < n_users else f"new{u}" for u in rng.integers(0, int(n_users * 1.05), n)]
            start = time.perf_counter()
            latencies, errors = [], 0

            def one(i):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                t = time.perf_counter()
                r = client.get(f"/recommendations/{users[i]}", params={"k": 12})
                return time.perf_counter() - t, r.status_code

            with httpx.Client(base_url=url, timeout=5) as client, ThreadPoolExecutor(4) as pool:
                for latency, status in pool.map(one, range(n)):
                    latencies.append(latency)
                    errors += status != 200
            wall = time.perf_counter() - start
        finally:
            server.terminate()
            server.wait(timeout=10)
    ms = np.array(latencies) * 1000
    return [{"bench": "api", "requests": n, "target_rate": rate, "achieved_rate": round(n / wall, 1),
             "p50_ms": round(float(np.percentile(ms, 50)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2),
             "errors": errors, "users_in_cache": n_users}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, nargs="+", default=[10_000, 105_542])
    parser.add_argument("--publish-rows", type=int, default=100_000)
    parser.add_argument("--dynamodb-rows", type=int, default=5_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    rows = []
    for n_items in args.items:
        rows += bench_topk(args.users, n_items)
    rows += bench_publish(args.publish_rows, args.dynamodb_rows)
    rows += bench_api(args.publish_rows, args.rate, args.seconds)
    for r in rows:
        print(json.dumps(r))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "serving.json").write_text(json.dumps(
        {"benchmark": "serving", "when": time.strftime("%Y-%m-%dT%H:%M:%S"), "cpus": os.cpu_count(), "results": rows},
        indent=2))
    print(f"\nwritten: {RESULTS / 'serving.json'}")


if __name__ == "__main__":
    main()
