"""Training benchmark: two-tower throughput and time per partition at two data scales × two batch sizes.

    uv run python -m benchmarks.training                       # scales 0.002 0.01, batch 1024 4096
    uv run python -m benchmarks.training --scales 0.01 0.05 --epochs 3
    uv run python -m benchmarks.training --scales 0.01 --grid --optimizers adam lazy_adam --out training_optimizers.json
    uv run python -m benchmarks.training --folder /tmp/recs-e2e-1 --grid --seed 42 --out training_folder.json

Per configuration: wall time of fit, examples/s over all epochs and over the epochs after the first
(the first traces the graph), time of the full-catalogue validation evaluation, and recall@12.
Writes benchmarks/results/training.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def build_features(scale: float, root: Path):
    """Raw load + dbt marts + workflow fit/transform at ``scale``; return (train, validation) datasets."""
    from recs_assets.settings import DBT_PROJECT_DIR, dbt_executable
    from recs_assets.features.workflow import fit_workflow, read_transformed, transform_split
    from recs_assets.ingest.load import load_raw
    from recs_assets.ingest.sources import RawSource
    from recs_assets.resources.warehouse import DuckDBWarehouse

    warehouse = DuckDBWarehouse(path=str(root / "bench.duckdb"))
    load_raw(warehouse, RawSource(scale=scale).chunks(), "bench")
    dbt = dbt_executable()
    subprocess.run([str(dbt), "build", "--quiet", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir",
                    str(DBT_PROJECT_DIR), "--vars", json.dumps({"duckdb_path": warehouse.path})], check=True)
    train = warehouse.query("select * from marts.train_transactions")
    workflow = fit_workflow(train, root / "wf", root / "scratch")
    transform_split(workflow, train, root / "train")
    transform_split(workflow, warehouse.query("select * from marts.validation_transactions"), root / "valid")
    return read_transformed(root / "train"), read_transformed(root / "valid"), len(train)


def kept_features(folder: Path):
    """(train, validation, train rows) from the transformed splits a pipeline run left in ``folder``."""
    from recs_assets.features.workflow import read_transformed

    found = sorted((folder / "model_store" / "features").glob("*/train"))
    if len(found) != 1:
        raise SystemExit(f"{folder}/model_store/features holds {len(found)} transformed train splits, not one")
    features = found[0].parent
    train = read_transformed(features / "train")
    return train, read_transformed(features / "validation"), int(train.to_ddf().shape[0].compute())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=float, nargs="+", default=[0.002, 0.01])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--grid", action="store_true", help="train the partitions of GRID instead (their own"
                        " learning rate, batch, epochs and size)")
    parser.add_argument("--optimizers", nargs="+", default=["lazy_adam"], choices=["adam", "lazy_adam"],
                        help="adam: Keras' legacy Adam (dense updates of the embedding tables); lazy_adam: the default")
    parser.add_argument("--out", default="training.json")
    parser.add_argument("--folder", help="instead of --scales: a data folder the pipeline ran in (e.g. the"
                        " end-to-end benchmark's): train on its transformed splits")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    import dataclasses

    from recs_assets.training.grid import GRID, Hyperparameters
    from recs_assets.training.two_tower import evaluate, train_two_tower

    rows = []
    for scale in [args.folder] if args.folder else args.scales:
        with tempfile.TemporaryDirectory() as tmp:
            train, valid, n_train = kept_features(Path(scale)) if args.folder else build_features(scale, Path(tmp))
            configs = GRID if args.grid else [Hyperparameters(learning_rate=0.01, batch_size=b, epochs=args.epochs)
                                              for b in args.batch_sizes]
            for params in [dataclasses.replace(p, lazy_adam=o == "lazy_adam") for p in configs for o in args.optimizers]:
                batch = params.batch_size
                stamps: list[float] = []
                start = time.perf_counter()
                result = train_two_tower(train, params, seed=args.seed, on_epoch_end=lambda e, l: stamps.append(time.perf_counter()))
                later = (n_train * (len(stamps) - 1)) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else float("nan")
                t = time.perf_counter()
                metrics = evaluate(result.model, train, valid, k=12)
                row = {
                    "scale": scale, "seed": args.seed, "train_rows": n_train, "config": params.key, "batch_size": batch,
                    "epochs": params.epochs, "optimizer": "lazy_adam" if params.lazy_adam else "adam",
                    "fit_seconds": round(result.seconds, 2),
                    "first_epoch_seconds": round(stamps[0] - start, 2),
                    "examples_per_second": round(result.examples_per_second),
                    "examples_per_second_after_first_epoch": round(later),
                    "evaluate_seconds": round(time.perf_counter() - t, 2),
                    "recall_at_12": round(metrics["recall_at_12"], 4),
                    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / args.out).write_text(json.dumps(
        {"benchmark": "training", "when": time.strftime("%Y-%m-%dT%H:%M:%S"), "cpus": os.cpu_count(), "results": rows},
        indent=2))
    head = ["scale", "train_rows", "config", "optimizer", "fit s", "1st epoch s", "ex/s", "ex/s after 1st", "eval s", "recall@12"]
    print("\n" + " | ".join(head))
    for r in rows:
        print(" | ".join(str(r[k]) for k in ("scale", "train_rows", "config", "optimizer", "fit_seconds", "first_epoch_seconds",
                                             "examples_per_second", "examples_per_second_after_first_epoch",
                                             "evaluate_seconds", "recall_at_12")))
    print(f"\nwritten: {RESULTS / args.out}")


if __name__ == "__main__":
    main()
