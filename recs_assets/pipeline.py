"""The whole graph, stage by stage, through the Dagster CLI: what ``make run`` and the end-to-end benchmark run.

Each stage is one ``dagster asset materialize`` (one run, recorded in ``$DAGSTER_HOME``); its output goes to
``<data folder>/logs/<stage>.log`` and the terminal gets one line per stage. The order is the lineage:
raw → marts → features → one run per two-tower partition → best model → candidates + ranker →
evaluation (gate) → recommendations → cache.

    python -m recs_assets.pipeline --config configs/synthetic.yaml
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from recs_assets.environment import REPO_ROOT, data_dir

LOCAL_INSTANCE = REPO_ROOT / "deploy" / "dagster.local.yaml"


@dataclass(frozen=True)
class Stage:
    name: str
    selection: str
    partition: str | None = None
    with_config: bool = False  # the run config file (raw source, scale) applies to this stage
    may_fail: bool = False  # the promotion gate may refuse: later stages then publish nothing


def stages() -> list[Stage]:
    from recs_assets.training.grid import GRID

    return [
        Stage("data + features", "+group:features and not key:landed_transactions", with_config=True),
        *[Stage(f"two-tower {p.key}", "trained_model", partition=p.key) for p in GRID],
        Stage("best model", "best_model"),
        Stage("candidates + ranker", "group:candidates or key:ranker"),
        Stage("evaluation + serving", "evaluation,recommendations,served_recommendations", may_fail=True),
    ]


def command(stage: Stage, config: Path | None) -> list[str]:
    cmd = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "recs_assets", "--select", stage.selection]
    if stage.partition:
        cmd += ["--partition", stage.partition]
    if stage.with_config and config:
        cmd += ["-c", str(config)]
    return cmd


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}m{seconds % 60:04.1f}s"


def run(config: Path | None, on_stage=None) -> list[dict]:
    """Runs every stage in order; returns [{stage, seconds, ok}]. Stops at the first failure that is not
    the gate's. ``on_stage(stage, popen)`` is called with each running process (the benchmark samples it)."""
    logs = data_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    home = Path(os.environ.get("DAGSTER_HOME") or data_dir() / "dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():  # local instance: SQLite under the data folder, one run at a time
        shutil.copy(LOCAL_INSTANCE, home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "RECS_DATA_DIR": str(data_dir()),
           "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    done, all_stages = [], stages()
    for i, stage in enumerate(all_stages, 1):
        log_path = logs / f"{i:02d}-{stage.name.replace(' ', '_').replace('+', 'and')}.log"
        print(f"[{i}/{len(all_stages)}] {stage.name} …", end="", flush=True)
        start = time.perf_counter()
        with open(log_path, "w") as log:
            proc = subprocess.Popen(command(stage, config), stdout=log, stderr=subprocess.STDOUT, env=env)
            if on_stage:
                on_stage(stage, proc)
            code = proc.wait()
        seconds = time.perf_counter() - start
        ok = code == 0
        done.append({"stage": stage.name, "seconds": round(seconds, 1), "ok": ok, "log": str(log_path)})
        verdict = "done" if ok else ("not published: the promotion gate did not pass" if stage.may_fail else "FAILED")
        print(f" {verdict} in {_clock(seconds)}" + ("" if ok else f"  (log: {log_path})"), flush=True)
        if not ok and not stage.may_fail:
            print(f"\n--- last lines of {log_path} ---")
            print("".join(log_path.read_text().splitlines(keepends=True)[-40:]))
            raise SystemExit(code)
    print(f"whole graph in {_clock(sum(d['seconds'] for d in done))}", flush=True)
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, help="run config of the raw load (source, scale, seed)")
    args = parser.parse_args()
    run(args.config)


if __name__ == "__main__":
    main()
