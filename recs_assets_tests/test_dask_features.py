"""NVTabular on a Dask cluster (a real distributed scheduler on loopback) fits and transforms exactly
what it does in process; the DaskCluster resource connects to whatever address it is given."""

from __future__ import annotations

import pandas as pd
import pytest

from recs_assets.features.workflow import fit_workflow, transform_split, vocabulary
from recs_assets.resources.dask_cluster import DaskCluster


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1",
                      dashboard_address=None) as local:
        yield local


def test_fit_and_transform_on_the_cluster_match_in_process(trained_pipeline, cluster, tmp_path):
    warehouse = trained_pipeline["resources"]["warehouse"]
    train = warehouse.query("select * from marts.train_transactions")
    test = warehouse.query("select * from marts.test_transactions")
    outputs = {}
    for name, resource in {"local": DaskCluster(), "cluster": DaskCluster(scheduler_address=cluster.scheduler_address)}.items():
        with resource.client() as client:
            assert (client is None) == (name == "local")
            if client is not None:
                assert client.scheduler_info()["workers"]  # really connected
            workflow = fit_workflow(train, tmp_path / name, tmp_path / f"{name}_scratch", client=client)
            transform_split(workflow, test, tmp_path / f"{name}_out")
        outputs[name] = pd.read_parquet(sorted((tmp_path / f"{name}_out").glob("*.parquet")))
    pd.testing.assert_series_equal(vocabulary(tmp_path / "local", "article_id"), vocabulary(tmp_path / "cluster", "article_id"))
    pd.testing.assert_frame_equal(outputs["local"], outputs["cluster"])
    assert "dask cluster tcp://" in DaskCluster(scheduler_address=cluster.scheduler_address).describe()
