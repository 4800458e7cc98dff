"""The whole graph at one scale, in a fresh data folder: wall time and peak RSS of every step.

    python -m benchmarks.end_to_end --scale 0.1        (make bench-e2e SCALE=0.1)

Runs ``recs_assets.pipeline`` (what ``make run`` runs: one Dagster run per stage, steps in-process) on
synthetic data at ``--scale``, the two-tower partitions ``--parallel`` at a time (default: as ``make run``,
one per core; ``--parallel 1`` trains them one after another). A sampler reads the resident memory of the
whole process tree every 0.2 s; the steps' start and end come from the Dagster event log, so each step gets
its wall time and the peak RSS seen while it ran (a run's process keeps what earlier steps of the same run
allocated, and partitions trained side by side share their figures: a step's figure is an upper bound of
its own). Row counts are the materializations' count metadata. Results are
merged into ``benchmarks/results/end_to_end.json`` under the scale, and a table is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import threading
import time
from pathlib import Path

import psutil

RESULTS = Path(__file__).parent / "results" / "end_to_end.json"


class TreeSampler:
    """Samples the summed RSS (MB) of every process this one started (and theirs)."""

    def __init__(self, interval: float = 0.2):
        self.interval, self.samples, self._proc = interval, [], psutil.Process(os.getpid())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            rss = 0
            for p in self._proc.children(recursive=True):  # the stages' CLI processes and their steps
                try:
                    rss += p.memory_info().rss
                except psutil.Error:  # ended between the listing and the read
                    pass
            if rss:
                self.samples.append((time.time(), rss / 2**20))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def peak(self, start: float, end: float) -> float:
        return round(max((mb for t, mb in self.samples if start <= t <= end), default=0.0), 1)


def _counts(metadata: dict) -> dict:
    """Row-like counts among a materialization's metadata (``dagster/row_count``, ``*rows*``, ``*customers*``)."""
    out = {}
    for key, value in metadata.items():
        raw = getattr(value, "value", value)
        if isinstance(raw, int) and not isinstance(raw, bool) and any(w in key for w in ("row", "customers", "users")):
            out[key] = raw
    return out


def step_figures(sampler: TreeSampler) -> list[dict]:
    """Per step of every run in $DAGSTER_HOME, in execution order."""
    from dagster import DagsterEventType, DagsterInstance

    instance = DagsterInstance.get()
    steps: dict[tuple[str, str], dict] = {}
    for run in sorted(instance.get_runs(), key=lambda r: instance.get_run_record_by_id(r.run_id).create_timestamp):
        partition = run.tags.get("dagster/partition")
        for entry in instance.all_logs(run.run_id):
            event = entry.dagster_event
            if event is None or not event.step_key:
                continue
            key = (run.run_id, event.step_key)
            step = steps.setdefault(key, {"step": event.step_key + (f"[{partition}]" if partition else ""),
                                          "assets": {}, "ok": None})
            if event.event_type == DagsterEventType.STEP_START:
                step["start"] = entry.timestamp
            elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
                step["end"], step["ok"] = entry.timestamp, event.event_type == DagsterEventType.STEP_SUCCESS
            elif event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
                mat = event.event_specific_data.materialization
                step["assets"][mat.asset_key.to_user_string()] = _counts(mat.metadata)
    out = []
    for step in steps.values():
        if "start" not in step or "end" not in step:
            continue
        out.append({"step": step["step"], "ok": step["ok"], "seconds": round(step["end"] - step["start"], 1),
                    "peak_rss_mb": sampler.peak(step["start"], step["end"]), "assets": step["assets"],
                    "start": step["start"]})
    return sorted(out, key=lambda s: s["start"])


def table(result: dict) -> str:
    lines = [f"scale {result['scale']}: {result['transactions']:,} purchases, whole graph "
             f"{result['wall_seconds'] / 60:.1f} min, peak RSS {result['peak_rss_mb'] / 1024:.1f} GB",
             f"{'step':<44}{'seconds':>9}{'peak GB':>9}"]
    for s in result["steps"]:
        peak = f"{s['peak_rss_mb'] / 1024:>9.2f}" if s["peak_rss_mb"] is not None else f"{'n/a':>9}"
        lines.append(f"{s['step']:<44}{s['seconds']:>9.1f}{peak}" + ("" if s["ok"] else "  FAILED"))
    return "\n".join(lines)


def test_week_quality() -> dict:
    """The evaluation's test-week figures and the gate's verdict, from the run's instance (empty when the
    evaluation did not run)."""
    from dagster import AssetCheckKey, AssetKey, DagsterInstance

    with DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(AssetKey("evaluation"))
        if event is None or event.asset_materialization is None:
            return {}
        meta = {k: v.value for k, v in event.asset_materialization.metadata.items()}
        check = instance.get_latest_asset_check_evaluation_record(AssetCheckKey(AssetKey("evaluation"), "promotion_gate"))
        gate = check.event.asset_check_evaluation.passed if check and check.event and check.event.asset_check_evaluation else None
    return {"test_buyers": meta.get("test_buyers"), "served_map_at_12": meta.get("served_map_at_k"),
            "strongest_baseline": meta.get("strongest_baseline"),
            "strongest_baseline_map_at_12": meta.get("strongest_baseline_map_at_k"),
            "gate": {True: "passed", False: "failed", None: ""}[gate]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, required=True)
    parser.add_argument("--data-dir", type=Path, help="fresh folder to use (emptied first); default /tmp/recs-e2e-<scale>")
    parser.add_argument("--first", type=int, help="run only the first N stages (e.g. 3: data, features and"
                        " the two partitions), for a scale whose later stages do not fit the time at hand")
    parser.add_argument("--resume-at", type=int, default=1, help="keep the data folder of an earlier `--first`"
                        " run at this scale and run from stage N on; the earlier steps keep their recorded figures")
    parser.add_argument("--parallel", type=int, default=os.cpu_count() or 1,
                        help="two-tower partitions trained at once (default as `make run`: one per core)")
    args = parser.parse_args()
    data = (args.data_dir or Path(f"/tmp/recs-e2e-{args.scale:g}")).resolve()
    everything = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    before = everything.get(f"{args.scale:g}") if args.resume_at > 1 else None
    if args.resume_at > 1 and not (before and (data / "dagster_home").is_dir()):
        raise SystemExit(f"--resume-at needs the earlier result at scale {args.scale:g} and its folder {data}")
    if not before:
        shutil.rmtree(data, ignore_errors=True)
        (data / "dagster_home").mkdir(parents=True)
    # As `make run` runs it: each stage one Dagster run, its steps in the run's process, one at a time
    # (the two-tower partitions, each its own run, ``--parallel`` at a time).
    os.environ.update(RECS_DATA_DIR=str(data), DAGSTER_HOME=str(data / "dagster_home"))
    os.environ.setdefault("RECS_EXECUTOR", "in_process")
    config = data / "run_config.yaml"
    config.write_text("ops:\n  raw_tables:\n    config:\n      source: synthetic\n"
                      f"      scale: {args.scale}\n      seed: 42\n")

    from recs_assets import pipeline

    start = time.time()
    with TreeSampler() as sampler:
        stages = pipeline.run(config, parallel=args.parallel, first=args.first, start_at=args.resume_at)
    wall = time.time() - start
    steps = step_figures(sampler)
    if before:  # the steps of the earlier invocation: its own figures (this sampler did not see them)
        earlier = {s["step"]: s for s in before["steps"]}
        # before this invocation: the earlier one's figures; a step it lacks was in an attempt that was
        # stopped and later run again (dropped: the run that completed replaces it below)
        steps = [({**earlier[s["step"]], "start": s["start"]} if s["step"] in earlier else None)
                 if s["start"] < start else s for s in steps]
        steps = [s for s in steps if s is not None]
        steps = list({s["step"]: s for s in steps}.values())  # a step run again replaces its earlier figures
        kept = before["stages"][:args.resume_at - 1]
        stages = kept + stages
        wall += sum(s["seconds"] for s in kept)  # the earlier stages' time, not the earlier total
    raw = next((s["assets"].get("raw_transactions", {}) for s in steps if s["step"] == "raw_tables"), {})
    result = {
        "scale": args.scale, "stages_run": f"first {args.first}" if args.first else "all",
        "date": time.strftime("%Y-%m-%d %H:%M"), "cores": os.cpu_count(), "parallel_partitions": args.parallel,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "transactions": next(iter(raw.values()), 0),
        "wall_seconds": round(wall, 1),
        "peak_rss_mb": round(max([mb for _, mb in sampler.samples] + [before["peak_rss_mb"] if before else 0]), 1),
        "stages": stages, "steps": [{k: v for k, v in s.items() if k != "start"} for s in steps],
    }
    quality = test_week_quality()
    if quality:
        result["quality"] = quality
    if before:
        result["resumed"] = (f"stages 1-{args.resume_at - 1} on {before['date']}, the rest on {result['date']}"
                             " in the same data folder; wall time is their sum")
    everything[f"{args.scale:g}"] = result
    RESULTS.write_text(json.dumps(everything, indent=2) + "\n")
    print("\n" + table(result) + f"\n\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
