"""One benchmark stage in its own process, so that its peak memory is its own.

python -m benchmarks.stage {generate|load|dbt} --scale S --db PATH  → prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import time


def _peak_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def generate(scale: float) -> dict:
    from recs_assets.ingest.sources import RawSource

    rows = 0
    for _, _, frame in RawSource(scale=scale).chunks():
        rows += len(frame)
    return {"rows": rows}


def load(scale: float, db: str) -> dict:
    from recs_assets.ingest.load import load_raw
    from recs_assets.ingest.sources import RawSource
    from recs_assets.resources.warehouse import DuckDBWarehouse

    rows = load_raw(DuckDBWarehouse(path=db), RawSource(scale=scale).chunks(), "benchmark")
    return {"rows": sum(rows.values()), "transactions": rows["raw_transactions"]}


def dbt(db: str) -> dict:
    from recs_assets.settings import DBT_PROJECT_DIR, dbt_executable

    exe = dbt_executable()
    cmd = [str(exe), "build", "--quiet", "--project-dir", str(DBT_PROJECT_DIR),
           "--profiles-dir", str(DBT_PROJECT_DIR), "--vars", json.dumps({"duckdb_path": db})]
    subprocess.run(cmd, check=True)
    return {}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("stage", choices=["generate", "load", "dbt"])
    parser.add_argument("--scale", type=float, required=True)
    parser.add_argument("--db", required=True)
    args = parser.parse_args()
    start = time.perf_counter()
    if args.stage == "generate":
        out = generate(args.scale)
    elif args.stage == "load":
        out = load(args.scale, args.db)
    else:
        out = dbt(args.db)
    out["seconds"] = round(time.perf_counter() - start, 2)
    out["peak_mb"] = round(max(_peak_mb(resource.RUSAGE_SELF), _peak_mb(resource.RUSAGE_CHILDREN)), 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
