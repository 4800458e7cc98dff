"""Dagster resources: one ConfigurableResource per external system, local and production flavours."""
