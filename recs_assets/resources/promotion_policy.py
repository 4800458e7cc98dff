"""The promotion policy: what a new list must achieve before it replaces what is served, and what is
served when it does not.

A resource, not run config, so that the runs automation launches (which carry no run config) follow
the deployment's policy too; ``environment.build_resources`` builds it, ``RECS_GATE_MIN_LIFT``
overrides the margin. ``evaluation.gate.decide`` applies it."""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field



class PromotionPolicy(ConfigurableResource):
    gate_metric: str = Field("map_at_k", description="Metric the served list must win on.")
    min_relative_lift: float = Field(
        0.1, ge=0.0,
        description="Required lift over the strongest baseline, e.g. 0.1 = the served list scores ≥ 1.1×.")
    max_mred: dict[str, float] = Field(
        default={"user_activity": 0.15, "age_band": 0.15, "product_group": 0.25, "item_popularity": 0.6},
        description="Upper bound on MRED per slice family. Popularity quartiles are served unequally by"
        " nature (rare items are rarely retrieved), hence the looser bound.",
    )
    require_interval_above_one: bool = Field(
        False, description="Also require the paired bootstrap's 95 % interval of served / strongest baseline"
        " to lie above 1 (the point estimate's lift is required either way).")
    enforce: bool = Field(
        True, description="False: the verdict is reported (a failed check) but the ranker is served anyway;"
        " for trials of the serving path, never for production.")
    serve_clearly_better: bool = Field(
        True, description="When the ranker fails the gate and nothing approved is live: serve its list, not the"
        " strongest baseline's, if it beats that baseline beyond doubt (the bootstrap interval of the lift lies"
        " above 1) though below the margin; so a run always ends serving the better list it has.")
    prefer_fresh_baseline: bool = Field(
        False, description="When the ranker fails the gate: publish the strongest baseline's fresh list even"
        " if an earlier approved ranker's version is live (default: the live version stays).")
