"""Runs what declarative automation requests, in dependency order, as the daemon's backfill would."""

from __future__ import annotations

from itertools import groupby

from dagster import DagsterInstance, Definitions, evaluate_automation_conditions, materialize


def requested(result, graph) -> dict:
    """asset key -> requested partition keys (``{None}`` for unpartitioned assets), dependency order."""
    return {
        key: result.get_requested_partitions(key)
        for key in graph.toposorted_asset_keys
        if result.get_num_requested(key)
    }


def run_requested(defs: Definitions, instance: DagsterInstance, wanted: dict) -> list:
    """Materialize ``wanted`` layer by layer: consecutive assets with the same partitioning run
    together, once per partition. Returns the run results (each must succeed)."""
    assets = list(defs.assets)
    results = []
    by_partitioning = groupby(wanted.items(), key=lambda item: tuple(sorted(item[1], key=str)))
    for partitions, group in by_partitioning:
        keys = [key for key, _ in group]
        for partition in partitions:
            result = materialize(
                assets, selection=keys, partition_key=partition, resources=defs.resources, instance=instance,
                tags={"recs_assets/trigger": "automation"},
            )
            assert result.success, f"{keys} {partition}"
            results.append(result)
    return results


def tick(defs: Definitions, instance: DagsterInstance, cursor=None):
    """One automation evaluation over every asset; returns (requested, cursor)."""
    result = evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    return requested(result, defs.resolve_asset_graph()), result.cursor


def settle(defs: Definitions, instance: DagsterInstance, cursor=None, max_ticks: int = 8):
    """Tick and run until automation requests nothing, as successive daemon ticks would (requests
    cross a change of partitioning on the next tick). Returns (all requested, ticks, cursor)."""
    everything: dict = {}
    for ticks in range(1, max_ticks + 1):
        wave, cursor = tick(defs, instance, cursor)
        if not wave:
            return everything, ticks, cursor
        run_requested(defs, instance, wave)
        for key, partitions in wave.items():
            everything.setdefault(key, set()).update(partitions)
    raise AssertionError(f"automation still requesting after {max_ticks} ticks: {sorted(map(str, wave))}")
