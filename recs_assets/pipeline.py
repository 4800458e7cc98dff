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
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from recs_assets.settings import REPO_ROOT, data_dir

LOCAL_INSTANCE = REPO_ROOT / "deploy" / "dagster.local.yaml"


@dataclass(frozen=True)
class Stage:
    name: str
    selection: str
    partition: str | None = None
    with_config: bool = False  # the run config file (raw source, scale) applies to this stage


def stages() -> list[Stage]:
    from recs_assets.training.grid import GRID

    return [
        Stage("data + features", "+group:features and not key:landed_transactions", with_config=True),
        *[Stage(f"two-tower {p.key}", "trained_model", partition=p.key) for p in GRID],
        # One run from the choice of model to the cache: the gate decides which list is published.
        Stage("best model, candidates, ranker, evaluation, cache",
              "key:best_model or group:candidates or key:ranker or group:evaluation or group:serving"),
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


def _launch(stage: Stage, number: int, config: Path | None, env: dict, logs: Path):
    log_path = logs / f"{number:02d}-{stage.name.replace(' ', '_').replace('+', 'and').replace(',', '')}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command(stage, config), stdout=log, stderr=subprocess.STDOUT, env=env)
    return proc, log_path, time.perf_counter()


def _batches(numbered: list[tuple[int, Stage]], parallel: int) -> list[list[tuple[int, Stage]]]:
    """The stages as they run: consecutive two-tower partitions ``parallel`` at a time, the rest alone."""
    out: list[list[tuple[int, Stage]]] = []
    for item in numbered:
        if out and parallel > 1 and item[1].partition and out[-1][0][1].partition and len(out[-1]) < parallel:
            out[-1].append(item)
        else:
            out.append([item])
    return out


class _StepReporter:
    """Prints a line when a step of a stage's run ends, read from the run's log as it grows; the step's
    time comes from the log's own timestamps (the log may reach the file in bursts)."""

    EVENT = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) .* - ([\w.\[\]]+) - STEP_(START|SUCCESS|FAILURE) ", re.M)

    def __init__(self, log_path: Path):
        self.log_path, self.offset, self.started = log_path, 0, {}

    def report(self) -> None:
        from datetime import datetime

        with open(self.log_path) as log:
            log.seek(self.offset)
            text = log.read()
        complete = text.rfind("\n") + 1  # a line still being written waits for the next look
        self.offset += len(text[:complete].encode())
        for stamp, step, event in self.EVENT.findall(text[:complete]):
            when = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S")
            if event == "START":
                if not self.started:
                    print(flush=True)
                self.started[step] = when
            else:
                took = (when - self.started.get(step, when)).total_seconds()
                print(f"      {step}: {'done' if event == 'SUCCESS' else 'FAILED'} in {_clock(took)}", flush=True)


def settle_dead_runs(instance) -> list[str]:
    """Runs of this instance left STARTED by a process that is gone (a killed ``make run``): marked failed
    and their pool slots given back, so the next publish does not wait forever for a slot a dead step
    holds (only the daemon's run monitoring does this otherwise). Returns their run ids."""
    from dagster import DagsterEventType, DagsterRunStatus, RunsFilter

    settled = []
    for run in instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTED, DagsterRunStatus.STARTING])):
        starts = instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_START)
        pid = starts[0].dagster_event.pid if starts and starts[0].dagster_event else None
        if pid is None or _alive(pid):
            continue
        instance.report_run_failed(run, f"its process {pid} is gone (killed); marked failed by the pipeline")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        settled.append(run.run_id)
    return settled


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def run(config: Path | None, parallel: int = 1, first: int | None = None, start_at: int = 1) -> list[dict]:
    """Runs every stage in order, up to ``parallel`` two-tower partitions at once (they share no database:
    each reads the transformed splits and writes its own model); returns [{stage, seconds, ok, log}].
    Stops at the first failure, or after the ``first`` stages when given;
    ``start_at`` skips the stages before it (their assets already materialized in this data folder)."""
    logs = data_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    home = Path(os.environ.get("DAGSTER_HOME") or data_dir() / "dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():  # local instance: SQLite under the data folder, one run at a time
        shutil.copy(LOCAL_INSTANCE, home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "RECS_DATA_DIR": str(data_dir()),
           "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    from dagster import DagsterInstance

    os.environ["DAGSTER_HOME"] = str(home)
    with DagsterInstance.get() as instance:
        for run_id in settle_dead_runs(instance):
            print(f"run {run_id} was left started by a killed process: marked failed, its pool slots freed")
    all_stages, done, started = stages()[:first], [], time.perf_counter()
    batches = _batches(list(enumerate(all_stages, 1))[start_at - 1:], parallel)
    for position, batch in enumerate(batches, 1):
        names = " | ".join(stage.name for _, stage in batch) if len(batch) == 1 else \
            f"two-tower partitions {', '.join(stage.partition for _, stage in batch)} in parallel"
        print(f"[{position}/{len(batches)}] {names} …", end="", flush=True)
        running = [(stage, *_launch(stage, number, config, env, logs)) for number, stage in batch]
        ended: dict[int, float] = {}
        steps = _StepReporter(running[0][2]) if len(running) == 1 else None
        while len(ended) < len(running):  # each process's own end, not when the one before it ended
            for i, (_, proc, _, _) in enumerate(running):
                if i not in ended and proc.poll() is not None:
                    ended[i] = time.perf_counter()
            if steps:
                steps.report()
            time.sleep(0.2)
        for i, (stage, proc, log_path, start) in enumerate(running):
            code = proc.returncode
            seconds = ended[i] - start
            ok = code == 0
            done.append({"stage": stage.name, "seconds": round(seconds, 1), "ok": ok, "log": str(log_path)})
            verdict = "done" if ok else "FAILED"
            who = f" {stage.partition}:" if len(running) > 1 else ""
            print(f"{who} {verdict} in {_clock(seconds)}" + ("" if ok else f"  (log: {log_path})"), end="", flush=True)
            if not ok:
                print(f"\n--- last lines of {log_path} ---")
                print("".join(log_path.read_text().splitlines(keepends=True)[-40:]))
                raise SystemExit(code)
        print(flush=True)
    print(f"whole graph in {_clock(time.perf_counter() - started)}", flush=True)
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, help="run config of the raw load (source, scale, seed)")
    parser.add_argument("--parallel", type=int, default=os.cpu_count() or 1,
                        help="two-tower partitions trained at once (default: one per core)")
    args = parser.parse_args()
    run(args.config, args.parallel)


if __name__ == "__main__":
    main()
