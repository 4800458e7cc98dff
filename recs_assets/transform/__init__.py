"""dbt marts over the raw tables, as Dagster assets with dbt tests as asset checks."""
