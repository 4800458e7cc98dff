"""Prints what the pipeline produced: every table with its row count, where the data is, how to look."""

from __future__ import annotations

from recs_assets.environment import build_resources, current_environment, data_dir
from recs_assets.core.metrics import K

TABLES = [
    ("raw", ["raw_customers", "raw_articles", "raw_transactions"]),
    ("staging", ["stg_customers", "stg_articles", "stg_transactions"]),
    (
        "marts",
        [
            "transactions_dedup",
            "customer_activity",
            "transactions_enriched",
            "transactions_split",
            "train_transactions",
            "validation_transactions",
            "test_transactions",
        ],
    ),
]


def main() -> None:
    warehouse = build_resources()["warehouse"]
    print(f"\nrecs_assets ({current_environment()}): {warehouse.describe()}\n")
    print(f"{'table':<34}{'rows':>12}")
    for schema, tables in TABLES:
        for table in tables:
            try:
                rows, _ = warehouse.table_stats(schema, table)
                shown = f"{rows:,}"
            except Exception as exc:  # a table not built yet is worth a line, not a crash
                shown = f"missing ({type(exc).__name__})"
            print(f"{schema + '.' + table:<34}{shown:>12}")
    bounds = warehouse.query("select * from marts.split_boundaries")
    if not bounds.empty:
        b = bounds.iloc[0]
        print(
            f"\nsplits: train < {b.validation_start:%Y-%m-%d} <= validation < {b.test_start:%Y-%m-%d}"
            f" <= test <= {b.last_date:%Y-%m-%d}"
        )
    _print_best_model()
    _print_serving()
    _print_backtest(warehouse)
    print(f"\ndata folder: {data_dir()}")
    print("open the UI with run history: make dev  (then http://127.0.0.1:3000)\n")


def _print_backtest(warehouse) -> None:
    from recs_assets.monitoring.weeks import weeks_table

    weeks = weeks_table(warehouse)
    if weeks.empty:
        print("\nno week after a publish scored yet: `make next-week` lands the next synthetic week and scores it")
        return
    print(f"\nthe live list on the weeks after it was published (MAP@{K}; what customers then bought):")
    for w in weeks.itertuples(index=False):
        base = "" if w.baseline_map_at_k != w.baseline_map_at_k or w.baseline_name == w.list_name else f"   {w.baseline_name}: {w.baseline_map_at_k:.4f}"
        print(f"  week of {w.week}: {w.list_name} {w.map_at_k:.4f}{base}   ({w.buyers:,} buyers,"
              f" {w.personal_share:.0%} with a personal list)")


def _print_serving() -> None:
    from recs_assets.environment import build_cache
    from recs_service.service import live, served_list

    cache = build_cache()
    version, model_version = live(cache)
    if not version:
        print("\nnothing published to the recommendation cache yet")
        return
    customer = _any_customer()
    sample = cache.get(customer)
    print(f"\nlive: {served_list(model_version)} (version {version}, {cache.describe()})")
    if why := _latest_metadata("recommendations", "why"):
        print(f"why: {why}")
    if sample:
        print(f"e.g. customer {customer}: {sample['items'][:5]}…")
    print("\ntry it:\n  make serve\n"
          f"  curl 'http://127.0.0.1:8000/recommendations/{customer}?k={K}'\n  curl http://127.0.0.1:8000/health")


def _latest_metadata(asset: str, key: str):
    """One metadata value of the asset's latest materialization in this DAGSTER_HOME, or None."""
    from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

    try:
        records = DagsterInstance.get().fetch_materializations(AssetRecordsFilter(asset_key=AssetKey(asset)), limit=1)
    except Exception:  # no DAGSTER_HOME: runs were not recorded
        return None
    entry = records.records[0].asset_materialization.metadata.get(key) if records.records else None
    return entry.value if entry is not None else None


def _any_customer() -> str:
    warehouse = build_resources()["warehouse"]
    return str(warehouse.query("select min(customer_id) as c from marts.transactions_dedup")["c"].iloc[0])


def _print_best_model() -> None:
    """The latest best_model materialization of this DAGSTER_HOME, if any."""
    from dagster import AssetCheckKey, AssetKey, AssetRecordsFilter, DagsterInstance

    try:
        instance = DagsterInstance.get()
    except Exception:  # no DAGSTER_HOME: runs were not recorded, nothing to show
        return
    def latest(asset: str):
        records = instance.fetch_materializations(AssetRecordsFilter(asset_key=AssetKey(asset)), limit=1).records
        return records[0].asset_materialization.metadata if records else None

    if meta := latest("best_model"):
        print(f"\nbest model: {meta['best_partition'].value} ({meta['reason'].value})")
        print(f"model: {meta['model_uri'].value}\n")
        print(meta["comparison"].value)
    if meta := latest("candidates"):
        print("\ncandidate recall (share of the next week's purchases among the candidates):\n")
        print(meta["candidate_recall"].value)
    if meta := latest("ranker"):
        print(f"\nranker: {meta['kind'].value} {meta['params'].value}, validation-holdout MAP@{K}"
              f" {meta[f'holdout_map_at_{K}'].value:.4f} (its inputs' order: {meta[f'input_order_map_at_{K}'].value:.4f})")
    if meta := latest("evaluation"):
        print(f"\ntest week, every buyer ({meta['test_buyers'].value}; new customers included):\n")
        print(meta["metrics_every_test_buyer"].value)
        print(f"\nthe same lists for the {meta['test_buyers_known_to_the_two_tower'].value} buyers the two-tower was"
              " trained on:\n")
        print(meta["metrics_modelled_customers"].value)
        interval = meta.get("lift_interval_95")
        print(f"\nranked list MAP@{K} = {meta['lift_over_strongest_baseline'].value:.3f} × the strongest baseline"
              f" ({meta['strongest_baseline'].value})" + (f": {interval.value}" if interval else "") + "\n")
        if settings := meta.get("baseline_settings_chosen_on_validation"):
            print(settings.value + "\n")
        print(meta["mred"].value)
        print(f"\nRecList report: {meta['report_uri'].value}")
        check = instance.get_latest_asset_check_evaluation_record(AssetCheckKey(AssetKey("evaluation"), "promotion_gate"))
        if check and check.event and check.event.asset_check_evaluation:
            evaluation = check.event.asset_check_evaluation
            verdict = "PASSED" if evaluation.passed else "FAILED"
            reasons = evaluation.metadata.get("reasons")
            print(f"promotion gate: {verdict}\n{reasons.value if reasons else ''}")


if __name__ == "__main__":
    main()
