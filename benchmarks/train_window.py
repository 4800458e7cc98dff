"""How long a history the two-tower should learn from: validation quality and time per training window.

    uv run python -m benchmarks.train_window --scale 0.1 --weeks 0 26 12 6

For each window (dbt var ``train_weeks``; 0 = all history) the marts are rebuilt, the NVTabular workflow is
fit on the window and the model trained (batch 1024, lr 0.005, ``--epochs``) and scored on the same
validation week against every item it saw. Writes ``benchmarks/results/train_window.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "train_window.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--weeks", type=int, nargs="+", default=[0, 26, 12, 6])
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()

    from recs_assets.settings import DBT_PROJECT_DIR, dbt_executable
    from recs_assets.features.workflow import fit_workflow, read_transformed, transform_split
    from recs_assets.ingest.load import load_raw
    from recs_assets.ingest.sources import RawSource
    from recs_assets.resources.warehouse import DuckDBWarehouse
    from recs_assets.training.grid import Hyperparameters
    from recs_assets.training.two_tower import evaluate, train_two_tower

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        warehouse = DuckDBWarehouse(path=str(root / "warehouse.duckdb"))
        load_raw(warehouse, RawSource(scale=args.scale).chunks(), "bench")
        dbt = [str(dbt_executable()), "run", "--quiet", "--project-dir", str(DBT_PROJECT_DIR),
               "--profiles-dir", str(DBT_PROJECT_DIR)]
        for weeks in args.weeks:
            dbt_vars = {"duckdb_path": warehouse.path, "train_weeks": weeks or None}
            subprocess.run([*dbt, "--vars", json.dumps(dbt_vars)], check=True)
            train = warehouse.query("select * from marts.train_transactions")
            valid = warehouse.query("select * from marts.validation_transactions")
            out = root / f"w{weeks}"
            start = time.perf_counter()
            workflow = fit_workflow(train, out / "wf", out / "scratch")
            transform_split(workflow, train, out / "train")
            transform_split(workflow, valid, out / "valid")
            features = time.perf_counter() - start
            train_ds, valid_ds = read_transformed(out / "train"), read_transformed(out / "valid")
            params = Hyperparameters(learning_rate=0.005, batch_size=1024, epochs=args.epochs)
            result = train_two_tower(train_ds, params, seed=42)
            metrics = evaluate(result.model, train_ds, valid_ds, k=12)
            row = {"scale": args.scale, "train_weeks": weeks or "all", "train_rows": len(train),
                   "epochs": args.epochs, "features_seconds": round(features, 1),
                   "fit_seconds": round(result.seconds, 1), "recall_at_12": round(metrics["recall_at_12"], 4),
                   "ndcg_at_12": round(metrics["ndcg_at_12"], 4), "catalogue": int(metrics["candidate_items"]),
                   "validation_users": int(metrics["eval_users"]),
                   # the model ranks only customers it saw in its window; the others count as misses here
                   "validation_buyers": int(valid["customer_id"].nunique()),
                   "recall_at_12_every_buyer": round(metrics["recall_at_12"] * metrics["eval_users"]
                                                     / valid["customer_id"].nunique(), 4)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    everything = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    everything[f"{args.scale:g}"] = {"when": time.strftime("%Y-%m-%dT%H:%M"), "results": rows}
    RESULTS.write_text(json.dumps(everything, indent=2) + "\n")
    print("\nweeks | train rows | features s | fit s | recall@12 (ranked) | recall@12 (every buyer)")
    for r in rows:
        print(f"{r['train_weeks']} | {r['train_rows']:,} | {r['features_seconds']} | {r['fit_seconds']} | "
              f"{r['recall_at_12']} | {r['recall_at_12_every_buyer']}")


if __name__ == "__main__":
    main()
