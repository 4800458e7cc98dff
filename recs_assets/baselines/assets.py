"""The tuned_baselines asset: every baseline's settings chosen on the validation week, within a time budget."""

import time

from dagster import AssetExecutionContext, Config, MetadataValue, Output, asset
from pydantic import Field

from recs_assets.baselines.tuning import TunedBaselines, tune
from recs_assets.candidates.purchase_log import PurchaseLog
from recs_assets.candidates.windows import cutoffs
from recs_assets.core.metrics import K
from recs_assets.resources.warehouse import Warehouse


class BaselineTuningConfig(Config):
    budget_seconds: float = Field(120.0, gt=0, description="Time for settings beyond each baseline's first.")
    max_buyers: int | None = Field(20_000, ge=1, description="Validation-week buyers the settings are scored on"
                                   " (a deterministic sample).")
    max_als_users: int | None = Field(100_000, ge=1, description="Customers whose purchases ALS is fitted on while"
                                      " searching (the scored buyers and a hash sample of the rest).")


def choices_table(tuned: TunedBaselines) -> str:
    """Markdown: one row per baseline, its chosen settings, validation MAP, and how many settings were tried."""
    rows = [f"| baseline | chosen settings | validation MAP@{tuned.k} | settings tried |", "|---|---|---|---|"]
    for name, choice in tuned.choices.items():
        rows.append(f"| {name} | {choice.settings or '(none)'} | {choice.validation_map:.4f} | {len(choice.tried)} |")
    return "\n".join(rows)


@asset(group_name="evaluation", deps=["transactions_dedup", "split_boundaries", "stg_articles", "stg_customers"])
def tuned_baselines(context: AssetExecutionContext, config: BaselineTuningConfig, warehouse: Warehouse):
    """Popularity (overall, by age band), repurchase (frequency, time-decayed), item-to-item and ALS (with
    and without hiding bought articles), each with settings chosen on the validation week (the test week
    is never read): the bar the ranked list must clear, and what is served when it does not."""
    start = time.perf_counter()
    log = PurchaseLog.from_warehouse(warehouse)
    bounds = warehouse.query("select * from marts.split_boundaries").iloc[0]
    cuts = cutoffs(bounds["validation_start"], bounds["test_start"], bounds["last_date"], 0)
    tuned = tune(log, cuts.validation, cuts.label_days, K, config.max_buyers, config.max_als_users,
                 config.budget_seconds,
                 progress=lambda m: context.log.info(f"{m} ({time.perf_counter() - start:.0f}s so far)"))
    tries = "\n".join(f"- {name}: " + "; ".join(f"{t['settings'] or '(none)'} → {t['validation_map']:.4f}"
                                                 f" ({t['seconds']} s)" for t in c.tried)
                      for name, c in tuned.choices.items())
    return Output(tuned, metadata={
        "choices": MetadataValue.md(choices_table(tuned)),
        "every_setting_tried": MetadataValue.md(tries),
        "validation_cutoff": tuned.validation_cutoff, "validation_buyers": tuned.validation_buyers,
        "left_untried_by_the_budget": MetadataValue.json(tuned.skipped), "seconds": tuned.seconds,
    })
