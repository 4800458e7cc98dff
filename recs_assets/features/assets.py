"""Feature assets: the workflow fit on train only, then train/validation/test transformed by it."""

import tempfile

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetOut,
    DataVersion,
    MetadataValue,
    Output,
    asset,
    multi_asset,
)

from recs_assets.artifacts import SplitRef, WorkflowRef, split_key, workflow_key
from recs_assets.features.workflow import INPUT_COLUMNS, fit_workflow, load_workflow, transform_split
from recs_assets.resources.dask_cluster import DaskCluster
from recs_assets.resources.model_store import ModelStore
from recs_assets.resources.warehouse import Warehouse

SPLITS = ("train", "validation", "test")


def data_fingerprint(frame: pd.DataFrame) -> str:
    """Order-independent fingerprint of a split's rows (by transaction_id)."""
    digest = pd.util.hash_pandas_object(frame["transaction_id"], index=False).sum()
    return f"{len(frame)}-{int(digest) & 0xFFFFFFFFFFFF:012x}"


def _read_split(warehouse: Warehouse, split: str) -> pd.DataFrame:
    """The columns the workflow reads (and the id the fingerprint hashes), not the whole mart."""
    return warehouse.query(f"select transaction_id, {', '.join(INPUT_COLUMNS)} from marts.{split}_transactions")


@asset(deps=["train_transactions"], group_name="features", kinds={"nvtabular"})
def nvt_workflow(
    context: AssetExecutionContext, warehouse: Warehouse, model_store: ModelStore, dask: DaskCluster
):
    """NVTabular workflow fit on the train split only, stored under its data's fingerprint."""
    train = _read_split(warehouse, "train")
    fingerprint = data_fingerprint(train)
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as scratch, dask.client() as client:
        context.log.info(f"fitting on {dask.describe()}")
        workflow = fit_workflow(train, tmp, scratch, client=client)
        uri = model_store.publish_dir(tmp, workflow_key(fingerprint))
    schema = workflow.output_schema
    table = "\n".join(
        f"| {c.name} | {', '.join(sorted(t.value for t in c.tags))} | "
        f"{c.int_domain.max + 1 if c.int_domain else ''} |"
        for c in schema
    )
    context.log.info(f"fit workflow on {len(train)} train rows → {uri}")
    return Output(
        WorkflowRef(fingerprint=fingerprint, uri=uri, fit_rows=len(train)),
        data_version=DataVersion(fingerprint),
        metadata={
            "uri": uri,
            "fit_rows": len(train),
            "fit_on": "marts.train_transactions only",
            "train_fingerprint": fingerprint,
            "features": MetadataValue.md("| column | tags | cardinality |\n|---|---|---|\n" + table),
        },
    )


@multi_asset(
    outs={f"transformed_{s}": AssetOut(group_name="features", kinds={"parquet"}) for s in SPLITS},
    ins={"nvt_workflow": AssetIn()},
    deps=[f"{s}_transactions" for s in SPLITS],
)
def transformed_splits(
    context: AssetExecutionContext, nvt_workflow: WorkflowRef, warehouse: Warehouse, model_store: ModelStore,
    dask: DaskCluster,
):
    """Each split transformed by the train-fit workflow (parquet + Merlin schema)."""
    with dask.client() as client:
        yield from _transform_all(context, nvt_workflow, warehouse, model_store, client)


def _transform_all(context, nvt_workflow: WorkflowRef, warehouse: Warehouse, model_store: ModelStore, client):
    workflow = load_workflow(model_store.local_path(nvt_workflow.key), client=client)
    for split in SPLITS:
        frame = _read_split(warehouse, split)
        with tempfile.TemporaryDirectory() as tmp:
            transform_split(workflow, frame, tmp)
            uri = model_store.publish_dir(tmp, split_key(nvt_workflow.fingerprint, split))
        context.log.info(f"{split}: {len(frame)} rows → {uri}")
        yield Output(
            SplitRef(features=nvt_workflow.fingerprint, split=split, uri=uri, rows=len(frame)),
            output_name=f"transformed_{split}",
            metadata={"uri": uri, "dagster/row_count": len(frame), "workflow": nvt_workflow.uri},
        )
