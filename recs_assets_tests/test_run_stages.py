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
    # landed files come through the landing zone, backtest weeks after a publish (make next-week)
    everything = {k.to_user_string() for k in graph.get_all_asset_keys()} - {"landed_transactions", "live_list_backtest"}
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


def test_stages_are_numbered_as_they_run():
    from recs_assets.pipeline import _batches, stages

    numbered = list(enumerate(stages(), 1))
    assert [[n for n, _ in b] for b in _batches(numbered, parallel=2)] == [[1], [2, 3], [4]]
    assert len(_batches(numbered, parallel=1)) == len(numbered)


def test_each_step_of_a_running_stage_gets_a_line(tmp_path, capsys):
    from recs_assets.pipeline import _StepReporter

    log = tmp_path / "stage.log"
    prefix = "2026-01-01 00:00:{} +0000 - dagster - DEBUG - __ASSET_JOB - run - 42 - "
    log.write_text(prefix.format("05") + "ranker - STEP_START - Started execution of step \"ranker\".\n"
                   + prefix.format("47") + "ranker - STEP_SUC")
    steps = _StepReporter(log)
    steps.report()
    assert "ranker" not in capsys.readouterr().out  # started, not ended; the half-written line waits
    with open(log, "a") as out:
        out.write("CESS - Finished execution of step \"ranker\".\n")
    steps.report()
    assert "ranker: done in 0m42.0s" in capsys.readouterr().out  # from the log's own clock


def test_every_output_of_the_candidate_stage_waits_for_a_retrained_model():
    """A candidate output left eager on new data runs the whole stage with the stale model (features mismatch)."""
    from recs_assets.automation.conditions import MODEL_CONSUMERS
    from recs_assets.candidates.assets import candidate_generation

    assert {key.to_user_string() for key in candidate_generation.keys} <= MODEL_CONSUMERS
