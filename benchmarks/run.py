"""Benchmarks: synthetic generation, raw load and dbt marts at several scales.

    make bench                                   # scales 0.001, 0.01, 0.05
    uv run python -m benchmarks.run --scales 0.01 0.1
    uv run python -m benchmarks.run --full       # adds scale 1.0 (H&M size, ~31.8M transactions)

Each stage runs in its own process (wall time, peak RSS). Writes benchmarks/results/raw_marts.json
and prints a table. Stages: generate (stream all chunks, discard), load (generate + validate +
stage + checks + publish into DuckDB), dbt (dbt build of staging + marts with all tests).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def run_stage(stage: str, scale: float, db: str) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.stage", stage, "--scale", str(scale), "--db", db]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=float, nargs="+", default=[0.001, 0.01, 0.05])
    parser.add_argument("--full", action="store_true", help="also run scale 1.0 (H&M size)")
    args = parser.parse_args()
    scales = args.scales + ([1.0] if args.full else [])
    rows = []
    for scale in scales:
        with tempfile.TemporaryDirectory() as tmp:
            db = str(Path(tmp) / "bench.duckdb")
            for stage in ("generate", "load", "dbt"):
                result = {"scale": scale, "stage": stage, **run_stage(stage, scale, db)}
                rows.append(result)
                print(json.dumps(result), flush=True)
    RESULTS.mkdir(exist_ok=True)
    report = {
        "benchmark": "raw_marts",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
        "results": rows,
    }
    (RESULTS / "raw_marts.json").write_text(json.dumps(report, indent=2))
    print(f"\n{'scale':>7} {'stage':<9} {'rows':>12} {'seconds':>9} {'peak MB':>9} {'rows/s':>10}")
    for r in rows:
        n = r.get("rows", "")
        rate = f"{n / r['seconds']:,.0f}" if n and r["seconds"] else ""
        print(f"{r['scale']:>7} {r['stage']:<9} {n:>12,} {r['seconds']:>9} {r['peak_mb']:>9} {rate:>10}"
              if n else f"{r['scale']:>7} {r['stage']:<9} {'':>12} {r['seconds']:>9} {r['peak_mb']:>9} {rate:>10}")
    print(f"\nwritten: {RESULTS / 'raw_marts.json'}")


if __name__ == "__main__":
    main()
