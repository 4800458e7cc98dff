"""The NVTabular feature workflow (pure: DataFrames and folders in, folders out).

Features as in the reference H&M pipeline: user id and user features (fn, active,
club_member_status, fashion_news_frequency, postal_code, age in 5-year buckets); item id and item
categoricals; the item's average train price, normalised; the purchase month as context (it feeds the
query tower, so it is tagged user as well). Categorify maps values unseen in train to its
out-of-vocabulary index, so validation/test rows never fail on a new value.

NVTabular and Merlin are imported inside the functions: they are slow to import, and Dagster loads
definitions often.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

USER_ID = "customer_id"
ITEM_ID = "article_id"
USER_FEATURES = ["fn", "active", "club_member_status", "fashion_news_frequency", "postal_code", "age_bucket"]
ITEM_FEATURES = [
    "product_code", "product_type_no", "product_group_name", "graphical_appearance_no",
    "colour_group_code", "perceived_colour_value_id", "perceived_colour_master_id", "department_no",
    "index_code", "index_group_no", "section_no", "garment_group_no",
]
CONTEXT_FEATURES = ["purchase_month"]
ITEM_PRICE = "article_id_price_mean"
# Categorify's reserved indices (NVTabular 23.08): 0 padding, 1 null, 2 out-of-vocabulary.
NULL_INDEX, OOV_INDEX = 1, 2
INPUT_COLUMNS = [USER_ID, ITEM_ID, "age", "t_dat", "price", *USER_FEATURES[:-1], *ITEM_FEATURES]


def prepare_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Derive age_bucket (5-year bins, -1 unknown) and purchase_month from a split's rows."""
    missing = [c for c in INPUT_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"split is missing column(s) {missing} needed for features")
    out = frame[INPUT_COLUMNS].copy()
    out["age_bucket"] = (out["age"] // 5 * 5).fillna(-1).astype("int64")
    out["purchase_month"] = pd.to_datetime(out["t_dat"]).dt.month.astype("int64")
    return out.drop(columns=["age", "t_dat"])


def build_workflow(categories_dir: str | Path, client=None):
    """The (unfitted) workflow. ``categories_dir`` receives the vocabularies (one per fit).

    ``client``: a ``distributed.Client`` to fit/transform on a Dask cluster (its workers must see
    ``categories_dir``); None runs in this process."""
    from merlin.schema import Tags
    from nvtabular import Workflow, ops

    out = str(categories_dir)
    user_id = [USER_ID] >> ops.Categorify(out_path=out) >> ops.TagAsUserID()
    item_id = [ITEM_ID] >> ops.Categorify(out_path=out) >> ops.TagAsItemID()
    user = USER_FEATURES >> ops.Categorify(out_path=out) >> ops.TagAsUserFeatures()
    item = ITEM_FEATURES >> ops.Categorify(out_path=out) >> ops.TagAsItemFeatures()
    price = (
        [ITEM_ID]
        >> ops.JoinGroupby(cont_cols=["price"], stats=["mean"], out_path=out)
        >> ops.FillMissing()
        >> ops.Normalize()
        >> ops.TagAsItemFeatures()
    )
    context = CONTEXT_FEATURES >> ops.Categorify(out_path=out) >> ops.AddTags([Tags.CONTEXT, Tags.USER])
    return Workflow(user_id + item_id + user + item + price + context, client=client)


def fit_workflow(train: pd.DataFrame, workflow_dir: str | Path, scratch_dir: str | Path, client=None):
    """Fit on the train split only and save to ``workflow_dir``; return the fitted workflow.

    Vocabularies are written to ``scratch_dir`` while fitting; ``Workflow.save`` copies them into
    ``workflow_dir``, so the saved folder stands alone.
    """
    import nvtabular as nvt

    workflow = build_workflow(Path(scratch_dir) / "categories", client=client)
    workflow.fit(nvt.Dataset(prepare_features(train), cpu=True))
    workflow.save(str(Path(workflow_dir) / "workflow"))
    return workflow


def load_workflow(workflow_dir: str | Path, client=None):
    from nvtabular import Workflow

    return Workflow.load(str(Path(workflow_dir) / "workflow"), client=client)


def transform_split(workflow, frame: pd.DataFrame, out_dir: str | Path) -> None:
    """Transform one split to parquet + Merlin schema in ``out_dir``."""
    import nvtabular as nvt

    workflow.transform(nvt.Dataset(prepare_features(frame), cpu=True)).to_parquet(str(out_dir))


def read_transformed(path: str | Path):
    """A transformed split as a Merlin dataset (``pd.read_parquet`` trips over schema.pbtxt)."""
    import merlin.io

    return merlin.io.Dataset(str(path), engine="parquet", cpu=True)


def vocabulary(workflow_dir: str | Path, column: str) -> pd.Series:
    """Encoded id → raw value for one categorical column of a saved workflow."""
    path = Path(workflow_dir) / "workflow" / "categories" / f"unique.{column}.parquet"
    return pd.read_parquet(path)[column]
