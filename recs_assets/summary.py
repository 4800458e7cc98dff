"""Prints what the pipeline produced: every table with its row count, where the data is, how to look."""

from __future__ import annotations

from recs_assets.environment import build_resources, current_environment, data_dir

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
    print(f"\ndata folder: {data_dir()}")
    print("open the UI with run history: make dev  (then http://127.0.0.1:3000)\n")


if __name__ == "__main__":
    main()
