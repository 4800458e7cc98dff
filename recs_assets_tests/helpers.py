"""Helpers shared by the test modules."""

from __future__ import annotations

import os


def metadata(result, asset: str) -> dict:
    """Metadata values of one asset's materialization in a run result."""
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset]
    return {k: v.value for k, v in event.event_specific_data.materialization.metadata.items()}


def all_assets():
    from recs_assets.baselines.assets import tuned_baselines
    from recs_assets.candidates.assets import candidate_generation
    from recs_assets.evaluation.assets import evaluation
    from recs_assets.features.assets import nvt_workflow, transformed_splits
    from recs_assets.ingest.assets import raw_tables
    from recs_assets.training.assets import best_model, trained_model
    from recs_assets.ranking.assets import ranker
    from recs_assets.serving.assets import recommendations, served_recommendations
    from recs_assets.transform.assets import dbt_marts

    return [raw_tables, dbt_marts, nvt_workflow, transformed_splits, trained_model, best_model,
            candidate_generation, tuned_baselines, ranker, evaluation, recommendations, served_recommendations]


def _grid_keys():
    from recs_assets.training.grid import GRID

    return [GRID[0].key, GRID[1].key]


TRAINED = _grid_keys()


# The candidate stage and the ranker, as materialize() selects them.
STAGES = ["history_candidates", "copurchase_candidates", "popularity_candidates", "retrieval_candidates", "als_candidates",
          "candidates", "ranker", "tuned_baselines"]


def plain_shell_env(env: dict) -> dict:
    """``env`` as a plain shell has it: without this venv on PATH, so ``python3`` is the system one, which
    has uv (the Makefile's and README's ``python3 -m uv``); the venv's python has not."""
    from pathlib import Path

    venv = str(Path(__file__).resolve().parent.parent / ".venv")
    out = {k: v for k, v in env.items() if k != "VIRTUAL_ENV"}
    out["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not p.startswith(venv))
    return out
