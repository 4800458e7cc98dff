"""The dbt project as Dagster sees it. Under ``dagster dev`` the manifest is rebuilt on load (with the dbt
installed beside this Python: the venv need not be on PATH); in the
local environment a missing manifest is built on first load (``dbt parse``, a few seconds); in
production images build it at image time, and a missing one fails with the command that builds it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from dagster_dbt import DagsterDbtProjectPreparer, DbtCliResource, DbtProject

from recs_assets.settings import DBT_PROJECT_DIR, current_environment, dbt_executable, dbt_target

PARSE = "dbt parse --project-dir dbt_project --profiles-dir dbt_project"


def ensure_manifest(project_dir: Path, target: str, build: bool) -> Path:
    """The project's ``target/manifest.json``; when missing, built with ``dbt parse`` if ``build``,
    else RuntimeError naming the command (Make's ``make manifest`` does the same)."""
    manifest = Path(project_dir) / "target" / "manifest.json"
    if manifest.exists():
        return manifest
    if build:
        done = subprocess.run([dbt_executable(), "parse", "--project-dir", str(project_dir), "--profiles-dir",
                               str(project_dir), "--target", target, "--quiet"], capture_output=True, text=True)
        if done.returncode == 0 and manifest.exists():
            return manifest
        raise RuntimeError(f"`dbt parse` could not build {manifest}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    raise RuntimeError(f"dbt's manifest {manifest} is missing: run `make manifest` (or `{PARSE}`) before loading"
                       " the definitions (production images build it at image time)")


class _Preparer(DagsterDbtProjectPreparer):
    """dagster-dbt's ``prepare_if_dev`` (its lock against concurrent parses included), parsing with our dbt
    executable instead of ``dbt`` looked up on PATH (missing when dagster is started as .venv/bin/dagster)."""

    def _prepare_manifest(self, project: DbtProject) -> None:
        DbtCliResource(project_dir=project, dbt_executable=dbt_executable()).cli(
            ["parse", "--quiet"], target_path=project.target_path).wait()


dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target=dbt_target())
_Preparer().prepare_if_dev(dbt_project)
ensure_manifest(DBT_PROJECT_DIR, dbt_target(), build=current_environment() == "local")
