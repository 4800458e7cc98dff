"""Model stores: a local folder, and S3 through moto's server over real HTTP."""

from __future__ import annotations

import boto3
import pytest

from recs_assets.resources.model_store import LocalModelStore, S3ModelStore


def _artifact(path, text):
    (path / "sub").mkdir(parents=True)
    (path / "a.txt").write_text(text)
    (path / "sub" / "b.txt").write_text(text * 2)
    return path


def test_local_store_publishes_and_replaces_whole_directories(tmp_path):
    store = LocalModelStore(root=str(tmp_path / "store"))
    store.publish_dir(_artifact(tmp_path / "v1", "one"), "models/m")
    store.publish_dir(_artifact(tmp_path / "v2", "two"), "models/m")
    got = store.local_path("models/m")
    assert (got / "a.txt").read_text() == "two" and (got / "sub" / "b.txt").read_text() == "twotwo"
    assert sorted(p.name for p in got.parent.iterdir()) == ["m"]  # no staging or old copies left


def test_local_store_names_missing_artifacts(tmp_path):
    with pytest.raises(FileNotFoundError, match="no artifact 'models/x'"):
        LocalModelStore(root=str(tmp_path)).local_path("models/x")


@pytest.fixture
def s3_endpoint(moto_endpoint):
    boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(Bucket="models")
    return moto_endpoint


def test_s3_store_round_trips_over_http(s3_endpoint, tmp_path):
    store = S3ModelStore(bucket="models", endpoint_url=s3_endpoint, cache_dir=str(tmp_path / "cache"))
    uri = store.publish_dir(_artifact(tmp_path / "v1", "one"), "models/m")
    assert uri == "s3://models/recs_assets/models/m"
    assert (store.local_path("models/m") / "sub" / "b.txt").read_text() == "oneone"
    store.publish_dir(_artifact(tmp_path / "v2", "two"), "models/m")
    assert (store.local_path("models/m") / "a.txt").read_text() == "two"  # the pointer moved
