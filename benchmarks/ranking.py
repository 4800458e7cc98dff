"""The multi-stage recommender measured as a user runs it: ``make run SOURCE=…`` on a fresh data
folder for each data set, then candidate recall, the ranker's choice, every list's test metrics and
each step's wall time read back from that run's Dagster instance.

    uv run python -m benchmarks.ranking                           # synthetic, complete_journey, synthetic_no_repeats
    uv run python -m benchmarks.ranking --sources complete_journey

Writes benchmarks/results/ranking.json and prints a table. Synthetic takes about 7 minutes on 2 cores (the partitions dominate).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
SOURCES = ["synthetic", "complete_journey", "synthetic_no_repeats"]


def _read_instance(data_dir: Path) -> dict:
    """Step wall times of every run, and the metadata of the stages, from the instance."""
    from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, RunsFilter

    instance = DagsterInstance.from_config(str(data_dir / "dagster_home"))
    steps: dict[str, float] = {}
    for run in instance.get_runs(RunsFilter()):
        for stat in instance.get_run_step_stats(run.run_id):
            if stat.end_time and stat.start_time:
                steps[stat.step_key] = round(steps.get(stat.step_key, 0.0) + stat.end_time - stat.start_time, 1)

    def latest(asset: str) -> dict:
        records = instance.fetch_materializations(AssetRecordsFilter(asset_key=AssetKey(asset)), limit=1).records
        return {k: v.value for k, v in records[0].asset_materialization.metadata.items()} if records else {}

    evaluation_value = json.loads(json.dumps(_io_value(data_dir, "evaluation"), default=str))
    ranker = latest("ranker")
    return {
        "step_seconds": steps,
        "candidates": _io_value(data_dir, "candidates").get("recall", {}),
        "ranker": {k: ranker.get(k) for k in ("kind", "params", "holdout_map_at_12", "input_order_map_at_12",
                                              "seconds")},
        "lists_every_test_buyer": evaluation_value.get("lists", {}),
        "lists_modelled_customers": evaluation_value.get("modelled_customers", {}),
        "gate": evaluation_value.get("gate", {}),
        "test_buyers": evaluation_value.get("test_buyers"),
        "served_users": latest("recommendations").get("users"),
    }


def _io_value(data_dir: Path, asset: str) -> dict:
    """The asset's stored value (a typed reference, see recs_assets.artifacts) as plain data."""
    import dataclasses
    import pickle

    path = data_dir / "io" / asset
    return dataclasses.asdict(pickle.loads(path.read_bytes())) if path.exists() else {}


def run_source(source: str, work: Path) -> dict:
    data_dir = work / source
    shutil.rmtree(data_dir, ignore_errors=True)
    env = {**os.environ, "RECS_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(data_dir / "dagster_home")}
    # as a user runs it: outside this interpreter's virtualenv (make finds the system python3 and uv)
    venv = env.pop("VIRTUAL_ENV", None)
    if venv:
        env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not p.startswith(venv))
    start = time.perf_counter()
    log = work / f"{source}.log"
    with log.open("w") as out:
        done = subprocess.run(["make", "run", f"SOURCE={source}"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    result = {"source": source, "make_run_seconds": round(time.perf_counter() - start, 1),
              "make_run_exit": done.returncode, "log": str(log)}
    return {**result, **_read_instance(data_dir)}


def table(results: list[dict]) -> str:
    lists = ["served", "two_tower", "popularity", "repurchase_then_popular", "als"]
    head = ["data set", *[f"{n} MAP@12" for n in lists], "served ÷ strongest baseline", "candidate recall (union)",
            "gate"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        scores = r["lists_every_test_buyer"]
        gate = r["gate"]
        rows.append("| " + " | ".join([
            r["source"], *[f"{scores[n]['map_at_k']:.4f}" if n in scores else "" for n in lists],
            f"{gate.get('lift', float('nan')):.3f} ({gate.get('strongest_baseline', '')})",
            f"{r['candidates'].get('test', {}).get('union', float('nan')):.3f}",
            "passed" if gate.get("passed") else "FAILED",
        ]) + " |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sources", nargs="+", default=SOURCES, choices=SOURCES)
    parser.add_argument("--work", default=str(REPO / "data" / "benchmarks"), help="fresh data folders go here")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    results = []
    RESULTS.mkdir(exist_ok=True)
    for source in args.sources:
        results.append(run_source(source, work))
        print(json.dumps({k: results[-1][k] for k in ("source", "make_run_seconds", "gate")}, default=str), flush=True)
        report = {"benchmark": "ranking", "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
                  "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}, "results": results}
        (RESULTS / "ranking.json").write_text(json.dumps(report, indent=2, default=str))  # after each data set
    print("\n" + table(results))
    for r in results:
        stages = {k: v for k, v in r["step_seconds"].items()
                  if k in ("candidate_generation", "ranker", "evaluation", "recommendations")}
        print(f"\n{r['source']}: make run {r['make_run_seconds']:.0f}s; stage seconds {stages}")
    print(f"\nwritten: {RESULTS / 'ranking.json'}")


if __name__ == "__main__":
    main()
