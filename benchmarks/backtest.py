"""One week's backtest of the live list at a given scale: ``live_list_backtest`` as Dagster runs it.

    uv run python -m benchmarks.backtest --scale 1.0

Builds, in a fresh folder: a DuckDB warehouse whose ``raw.raw_transactions`` holds the synthetic
generator's purchases at ``--scale`` (H&M's 31.8M lines at 1.0), a published version whose lists (12
articles for every customer, and a baseline's beside them) are stored in a local model store, cut off
before the last week of data; then materializes that week's partition and records its wall time and the
peak memory of the process. The lists are random: what is timed (reading the week's buyers and both lists,
scoring them, recording the week) does not depend on what they say. Writes
benchmarks/results/backtest.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results"


def _build(root: Path, scale: float):
    from recs_assets.ingest.schema import RAW_SCHEMA, TRANSACTIONS
    from recs_assets.ingest.synthetic import SyntheticGenerator, SyntheticSpec
    from recs_assets.resources.model_store import LocalModelStore
    from recs_assets.resources.warehouse import DuckDBWarehouse
    from recs_assets.serving import history

    warehouse, store = DuckDBWarehouse(path=str(root / "w.duckdb")), LocalModelStore(root=str(root / "store"))
    generator = SyntheticGenerator(SyntheticSpec(scale=scale))
    columns = TRANSACTIONS.all_columns
    with warehouse.staged_load(RAW_SCHEMA, {TRANSACTIONS.name: columns}) as load:
        for chunk in generator.transactions():
            load.append(TRANSACTIONS.name, chunk.assign(load_id="bench", loaded_at=pd.Timestamp("2020-09-23"))[list(columns)])
    last = pd.Timestamp(warehouse.query(f"select max(t_dat) as d from {RAW_SCHEMA}.{TRANSACTIONS.name}").iloc[0, 0])
    week = last - pd.Timedelta(days=6)  # the last whole week of the data
    customers = pd.concat([c[["customer_id"]] for c in generator.customers()], ignore_index=True)["customer_id"]
    articles = generator.articles["article_id"].to_numpy()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("recommendations", "baseline"):
            picks = articles[rng.integers(0, len(articles), (len(customers), 12))]
            pd.DataFrame({"customer_id": customers, "items": list(picks)}).to_parquet(Path(tmp) / f"{name}.parquet")
        pd.DataFrame({"article_id": articles[:12]}).to_parquet(Path(tmp) / "fallback.parquet")
        store.publish_dir(tmp, "recommendations/bench")
    history.record(warehouse, history.ServedVersion(
        version="bench", list_name="ranker", model_version="bench", cutoff=str((week - pd.Timedelta(days=1)).date()),
        serve_day=str(week.date()), live_from=pd.Timestamp.now().isoformat(), recommendations_key="recommendations/bench",
        baseline_name="repurchase_then_popular", purchases=0, evaluation_map=0.02, baseline_evaluation_map=0.02))
    return warehouse, store, str(week.date()), len(customers)


def run(scale: float) -> dict:
    from dagster import DagsterInstance, materialize

    from recs_assets.monitoring.assets import live_list_backtest

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        warehouse, store, week, customers = _build(Path(tmp), scale)
        built = time.perf_counter() - start
        instance = DagsterInstance.ephemeral()
        instance.add_dynamic_partitions("backtest_weeks", [week])
        start = time.perf_counter()
        result = materialize([live_list_backtest], partition_key=week, instance=instance,
                             resources={"warehouse": warehouse, "model_store": store})
        seconds = time.perf_counter() - start
        value = result.output_for_node("live_list_backtest")
    return {"scale": scale, "week": week, "customers_with_lists": customers, "buyers": value.live.buyers,
            "backtest_seconds": round(seconds, 1), "setup_seconds": round(built, 1),
            "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    row = run(args.scale)
    out = {"benchmark": "backtest", "cpus": os.cpu_count(), "python": platform.python_version(),
           "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1), "runs": [row]}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "backtest.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"{'scale':>6} {'customers':>10} {'buyers':>8} {'backtest s':>11} {'peak RSS GB':>12}")
    print(f"{row['scale']:>6g} {row['customers_with_lists']:>10,} {row['buyers']:>8,} {row['backtest_seconds']:>11}"
          f" {row['peak_rss_gb']:>12}")


if __name__ == "__main__":
    main()
