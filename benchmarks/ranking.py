"""The multi-stage recommender measured as a user runs it: ``make run SOURCE=…`` on a fresh data
folder for each data set, then candidate recall, the ranker's choice, every list's test metrics and
each step's wall time read back from that run's Dagster instance.

    uv run python -m benchmarks.ranking              # synthetic (0.01), synthetic_0.1, complete_journey, synthetic_no_repeats
    uv run python -m benchmarks.ranking --sources complete_journey

Writes benchmarks/results/ranking.json and prints a table: the ranked list, the two-tower alone and every
baseline with the settings the validation week chose, the bootstrap interval of the ranked list over the
strongest baseline, candidate recall per source, the seconds of each stage.
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
SOURCES = ["synthetic", "synthetic_0.1", "complete_journey", "synthetic_no_repeats"]


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
    tuned = json.loads(json.dumps(_io_value(data_dir, "tuned_baselines"), default=str))
    ranker = latest("ranker")
    return {
        "step_seconds": steps,
        "candidates": _io_value(data_dir, "candidates").get("recall", {}),
        "ranker": {k: ranker.get(k) for k in ("kind", "params", "holdout_map_at_12", "input_order_map_at_12",
                                              "seconds")},
        "lists_every_test_buyer": evaluation_value.get("lists", {}),
        "lists_modelled_customers": evaluation_value.get("modelled_customers", {}),
        "gate": evaluation_value.get("gate", {}),
        "baselines_tuned_on_validation": {name: {"settings": c["settings"], "validation_map": c["validation_map"],
                                                 "tried": len(c["tried"])}
                                          for name, c in tuned.get("choices", {}).items()},
        "baseline_search_seconds": tuned.get("seconds"),
        "served": {k: latest("recommendations").get(k) for k in ("list", "why")},
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
    """Markdown: per data set, every list's test MAP@12 (baselines with their validation-chosen settings)."""
    out = []
    for r in results:
        scores, gate = r["lists_every_test_buyer"], r["gate"]
        tuned = r.get("baselines_tuned_on_validation", {})
        low, high = gate.get("lift_interval", [float("nan")] * 2)
        out += [f"### {r['source']} ({r.get('test_buyers')} test buyers)", "",
                f"ranked list ÷ strongest baseline ({gate.get('strongest_baseline')}): {gate.get('lift', float('nan')):.3f}"
                f" (95 % CI {low:.3f}–{high:.3f}); gate {'passed' if gate.get('passed') else 'FAILED'};"
                f" published: {r.get('served', {}).get('list')}", "",
                "| list | test MAP@12 | settings (chosen on validation) | validation MAP@12 |", "|---|---|---|---|"]
        for name, metrics in scores.items():
            choice = tuned.get(name, {})
            validation = f"{choice['validation_map']:.4f}" if choice else ""
            out.append(f"| {name} | {metrics['map_at_k']:.4f} | {choice.get('settings', '') or ''} | {validation} |")
        recall = r["candidates"].get("test", {})
        out += ["", "candidate recall, test week: " + ", ".join(f"{k} {v:.3f}" for k, v in recall.items()
                                                              if k not in ("label_pairs", "candidates_per_customer")), ""]
    return "\n".join(out)


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
