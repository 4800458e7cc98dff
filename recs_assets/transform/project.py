"""The dbt project as Dagster sees it. Under ``dagster dev`` the manifest is rebuilt on load; elsewhere
run ``make manifest`` (``dbt parse``) first: the Makefile and the test session do."""

from __future__ import annotations

from dagster_dbt import DbtProject

from recs_assets.environment import DBT_PROJECT_DIR, dbt_target

dbt_project = DbtProject(
    project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target=dbt_target()
)
dbt_project.prepare_if_dev()
