"""Where NVTabular computes: in the step's own process by default, on a Dask cluster when one is configured."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dagster import ConfigurableResource
from pydantic import Field


class DaskCluster(ConfigurableResource):
    """``scheduler_address`` (e.g. ``tcp://dask-scheduler:8786``, from ``RECS_DASK_SCHEDULER``) sends
    NVTabular's fit and transform to that cluster. Its workers must reach the same storage as the step
    (the vocabularies are written to the step's scratch folder): a shared volume, or run the workers in
    the same image with the same mounts."""

    scheduler_address: str | None = Field(None, description="Dask scheduler address; None: in process.")

    @contextmanager
    def client(self) -> Iterator[object | None]:
        if not self.scheduler_address:
            yield None
            return
        from distributed import Client

        with Client(self.scheduler_address, set_as_default=False) as client:
            yield client

    def describe(self) -> str:
        return f"dask cluster {self.scheduler_address}" if self.scheduler_address else "this process (no Dask cluster)"
