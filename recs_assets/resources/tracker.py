"""Experiment tracking with Weights & Biases: offline by default, online when WANDB_API_KEY is set.

W&B is never required to run the pipeline: when it cannot start, the run is recorded as untracked
(with the reason) and training goes on. Offline runs land under ``dir``; ``wandb sync <dir>/wandb``
uploads them later.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource
from pydantic import Field

log = logging.getLogger(__name__)


class TrackedRun:
    """One W&B run, or an untracked stand-in that records why nothing is tracked."""

    def __init__(self, run: Any = None, reason: str = "") -> None:
        self._run, self.reason = run, reason

    @property
    def tracked(self) -> bool:
        return self._run is not None

    @property
    def location(self) -> str:
        if not self._run:
            return f"untracked: {self.reason}"
        return self._run.url or str(Path(self._run.dir).parent)

    def log(self, values: dict[str, float], step: int | None = None) -> None:
        if self._run:
            self._run.log(values, step=step)

    def summarize(self, values: dict[str, Any]) -> None:
        if self._run:
            self._run.summary.update(values)

    def log_table(self, name: str, columns: list[str], rows: list[list[Any]]) -> None:
        if self._run:
            import wandb

            self._run.log({name: wandb.Table(columns=columns, data=rows)})

    def reference_artifact(self, name: str, kind: str, uri: str) -> None:
        """Record the artifact by reference (the bytes stay in the model store)."""
        if self._run:
            import wandb

            artifact = wandb.Artifact(name=name, type=kind)
            artifact.add_reference(uri if "://" in uri else f"file://{uri}", checksum=False)
            self._run.log_artifact(artifact)

    def finish(self) -> None:
        if self._run:
            self._run.finish()


class ExperimentTracker(ConfigurableResource):
    mode: str = Field("auto", description="auto (online iff WANDB_API_KEY is set) | online | offline | disabled")
    project: str = "recs_assets"
    entity: str | None = None
    dir: str = Field(description="Where offline runs are written.")

    def resolved_mode(self) -> str:
        if self.mode == "auto":
            return "online" if os.environ.get("WANDB_API_KEY") else "offline"
        return self.mode

    def start(self, name: str, group: str, config: dict[str, Any], job_type: str) -> TrackedRun:
        mode = self.resolved_mode()
        if mode == "disabled":
            return TrackedRun(reason="tracking disabled")
        try:
            import wandb

            Path(self.dir).mkdir(parents=True, exist_ok=True)
            run = wandb.init(
                project=self.project, entity=self.entity, name=name, group=group, job_type=job_type,
                config=config, mode=mode, dir=self.dir, reinit="create_new",
                settings=wandb.Settings(silent=True, console="off"),
            )
            return TrackedRun(run)
        except Exception as exc:  # W&B must never stop the pipeline
            log.warning("W&B run %s not tracked: %s", name, exc)
            return TrackedRun(reason=f"{type(exc).__name__}: {exc}")
