"""``make run``'s stages (recs_assets.pipeline) cover the whole graph, in lineage order."""

from __future__ import annotations

from dagster import AssetKey, AssetSelection


def _resolve(defs, selection: str) -> set[str]:
    graph = defs.resolve_asset_graph()
    return {k.to_user_string() for k in AssetSelection.from_string(selection).resolve(graph)}


def test_stages_materialize_every_asset_but_the_landed_file_once_upstream_first():
    from recs_assets.definitions import defs
    from recs_assets.pipeline import command, stages

    graph = defs.resolve_asset_graph()
    everything = {k.to_user_string() for k in graph.get_all_asset_keys()} - {"landed_transactions"}
    seen: list[set[str]] = []
    for stage in stages():
        chosen = _resolve(defs, stage.selection)
        if stage.partition:
            assert chosen == {"trained_model"} and command(stage, None)[-2:] == ["--partition", stage.partition]
            if {"trained_model"} in seen:
                continue
        else:
            assert not chosen & set().union(*seen), f"{stage.name} repeats {chosen & set().union(*seen)}"
        for key in chosen:  # everything a stage needs was built by an earlier stage or in this one
            parents = {p.to_user_string() for p in graph.get(AssetKey.from_user_string(key)).parent_keys}
            assert parents - {"landed_transactions"} <= set().union(*seen, chosen), (stage.name, key)
        seen.append(chosen)
    assert set().union(*seen) == everything
