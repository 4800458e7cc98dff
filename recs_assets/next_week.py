"""After ``make run``: the synthetic week after the data lands, then the live list's backtest on it.

The week's purchases come from the same generator (same customers, tastes and seasons) and are dropped
into the landing zone as a CSV; they are loaded as the landing sensor would load them (a partition of
``landed_transactions``) and ``live_list_backtest`` scores the week, before any retrain replaces the
version that was live. Each step is one ``dagster asset materialize`` recorded in ``$DAGSTER_HOME``.

    python -m recs_assets.next_week --config configs/synthetic.yaml
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

from recs_assets.environment import build_resources
from recs_assets.ingest.synthetic import SyntheticGenerator, SyntheticSpec
from recs_assets.monitoring.assets import last_purchase_day
from recs_assets.monitoring.weeks import weeks_table
from recs_assets.serving import history
from recs_assets.settings import data_dir


def synthetic_spec(config: Path) -> SyntheticSpec:
    """The generator settings of a run config file (``ops.raw_tables.config``)."""
    raw = (yaml.safe_load(config.read_text()) or {}).get("ops", {}).get("raw_tables", {}).get("config", {})
    if raw.get("source", "synthetic") != "synthetic":
        raise SystemExit(f"{config} loads {raw['source']!r}: only synthetic data has a next week to generate")
    return SyntheticSpec(**{k: v for k, v in raw.items() if k in ("scale", "seed", "repeat_rate", "start_date", "days")})


def _materialize(selection: str, partition: str, env: dict) -> None:
    cmd = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "recs_assets", "--select", selection,
           "--partition", partition]
    log = data_dir() / "logs" / f"next_week-{selection}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        code = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env).returncode
    if code:
        print("".join(log.read_text().splitlines(keepends=True)[-30:]))
        raise SystemExit(f"{selection} failed (log: {log})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=Path("configs/synthetic.yaml"))
    args = parser.parse_args()
    from dagster import DagsterInstance

    resources = build_resources("local")
    warehouse, landing = resources["warehouse"], resources["landing"]
    versions = history.versions(warehouse)
    if not versions:
        raise SystemExit("nothing has been published yet: run `make run` first")
    spec = synthetic_spec(args.config)
    generator = SyntheticGenerator(spec)
    start = (pd.Timestamp(spec.start_date) + pd.Timedelta(days=spec.days)).date()
    if last_purchase_day(warehouse) != str(start - pd.Timedelta(days=1)):
        raise SystemExit(f"the warehouse's purchases end on {last_purchase_day(warehouse)}, not on the day before"
                         f" {start}: this data folder has had its next week already (or another source)")
    week = pd.concat(list(generator.week_after()), ignore_index=True)
    name = f"synthetic_week_{start}.csv"
    Path(landing.root).mkdir(parents=True, exist_ok=True)
    week.assign(t_dat=week["t_dat"].dt.strftime("%Y-%m-%d")).to_csv(Path(landing.root) / name, index=False)
    [landed] = [f for f in landing.list_files() if f.name == name]
    print(f"[1/2] landed {name}: {len(week):,} purchases by {week['customer_id'].nunique():,} customers,"
          f" {start} .. {week['t_dat'].max().date()}", flush=True)
    env = {**os.environ, "DAGSTER_HOME": os.environ.get("DAGSTER_HOME", str(data_dir() / "dagster_home"))}
    os.environ["DAGSTER_HOME"] = env["DAGSTER_HOME"]
    with DagsterInstance.get() as instance:  # what the landing sensor does for a new file
        instance.add_dynamic_partitions("landed_files", [landed.load_id])
    _materialize("landed_transactions", landed.load_id, env)
    partition = str(start)
    with DagsterInstance.get() as instance:  # what the backtest sensor does for a new whole week
        instance.add_dynamic_partitions("backtest_weeks", [partition])
    print(f"[2/2] backtest of the week of {partition} …", flush=True)
    _materialize("live_list_backtest", partition, env)
    for w in weeks_table(warehouse).itertuples(index=False):
        base = "" if pd.isna(w.baseline_map_at_k) or w.baseline_name == w.list_name else f"; {w.baseline_name} {w.baseline_map_at_k:.4f}"
        print(f"      week of {w.week}: {w.list_name} (version {w.version}) MAP@12 {w.map_at_k:.4f}{base};"
              f" {w.buyers:,} buyers, {w.personal_share:.0%} with a personal list")


if __name__ == "__main__":
    main()
