"""Model stores: a local folder, and S3 through moto's server over real HTTP.

Besides the round trips: keys and bucket contents that would write outside the store's folder are
refused, a replace never leaves the key missing, and concurrent downloads of one key all succeed.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import boto3
import pytest

from recs_assets.resources.model_store import LocalModelStore, S3ModelStore, UnsafeArtifactPath


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
    # the key (a link) and its current version only: no staging or old copies left
    assert sorted(p.name for p in got.parent.iterdir()) == ["m", got.name] and got.name.startswith("m~")
    assert store.uri("models/m") == str((tmp_path / "store").resolve() / "models" / "m")


def test_local_store_names_missing_artifacts(tmp_path):
    with pytest.raises(FileNotFoundError, match="no artifact 'models/x'"):
        LocalModelStore(root=str(tmp_path)).local_path("models/x")


def test_local_store_reads_and_replaces_folders_written_by_earlier_releases(tmp_path):
    """Earlier releases stored each key as a plain folder: it is read as it is, and replaced."""
    store = LocalModelStore(root=str(tmp_path / "store"))
    _artifact(tmp_path / "store" / "models" / "m", "old")  # what the earlier publish_dir left
    assert (store.local_path("models/m") / "a.txt").read_text() == "old"
    store.publish_dir(_artifact(tmp_path / "v2", "new"), "models/m")
    assert (store.local_path("models/m") / "sub" / "b.txt").read_text() == "newnew"
    assert [p.name for p in (tmp_path / "store" / "models").iterdir() if not p.name.startswith("m~")] == ["m"]


@pytest.mark.parametrize("key", ["../escaped", "models/../../escaped", "/etc/escaped", "models/./m", ""])
def test_local_store_refuses_keys_outside_its_folder(tmp_path, key):
    store = LocalModelStore(root=str(tmp_path / "store"))
    with pytest.raises(UnsafeArtifactPath, match="model store key"):
        store.publish_dir(_artifact(tmp_path / "v1", "one"), key)
    with pytest.raises(UnsafeArtifactPath, match="model store key"):
        store.local_path(key)
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "store").exists()


def test_local_store_replace_never_leaves_the_key_missing(tmp_path):
    """A reader looping on local_path while a replace happens must always find a complete artifact.
    The reader checks the key between the publisher's two steps of the replace: the rename that
    used to take the old folder away is the call the reader is let in on, through a barrier."""
    store = LocalModelStore(root=str(tmp_path / "store"))
    store.publish_dir(_artifact(tmp_path / "v1", "one"), "models/m")
    store.publish_dir(_artifact(tmp_path / "v2", "two"), "models/m")  # a link now; this is the case to test
    key_path = tmp_path / "store" / "models" / "m"
    inside, resume = threading.Barrier(2, timeout=60), threading.Barrier(2, timeout=60)
    seen: list[str] = []

    def reader():
        inside.wait()  # the publisher is in the middle of its replace
        try:
            seen.append((store.local_path("models/m") / "a.txt").read_text())
        except FileNotFoundError as err:
            seen.append(f"missing: {err}")
        finally:
            resume.wait()

    real_rename, real_replace = Path.rename, Path.replace
    paused: list[bool] = []

    def pausing(method):
        def moved(self, target):
            result = method(self, target)
            if (Path(self) == key_path or Path(target) == key_path) and not seen and not paused:
                paused.append(True)  # once: the reader looks in right after the publisher's first move
                inside.wait()
                resume.wait()
            return result
        return moved

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        Path.rename, Path.replace = pausing(real_rename), pausing(real_replace)
        store.publish_dir(_artifact(tmp_path / "v3", "three"), "models/m")
    finally:
        Path.rename, Path.replace = real_rename, real_replace
        thread.join(timeout=60)
    assert seen and all(text in ("two", "three") for text in seen), seen


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


def test_s3_store_refuses_object_names_that_leave_its_cache(s3_endpoint, tmp_path):
    """Whoever can write the bucket must not get files written outside the cache folder."""
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.put_object(Bucket="models", Key="recs_assets/models/m/CURRENT", Body=b"v1")
    s3.put_object(Bucket="models", Key="recs_assets/models/m/v1/a.txt", Body=b"fine")
    s3.put_object(Bucket="models", Key="recs_assets/models/m/v1/../../../../planted.txt", Body=b"owned")
    store = S3ModelStore(bucket="models", endpoint_url=s3_endpoint, cache_dir=str(tmp_path / "cache"))
    with pytest.raises(UnsafeArtifactPath, match=r"object s3://models/recs_assets/models/m/v1/\.\./.*planted\.txt"):
        store.local_path("models/m")
    assert not (tmp_path / "planted.txt").exists() and not (tmp_path / "cache" / "models" / "m" / "v1").exists()
    assert [p for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []  # nothing half-written


@pytest.mark.parametrize("pointer", [b"/etc", b"../../..", b"v1/../../x", b""])
def test_s3_store_refuses_pointers_that_are_not_version_names(s3_endpoint, tmp_path, pointer):
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.put_object(Bucket="models", Key="recs_assets/models/m/CURRENT", Body=pointer)
    store = S3ModelStore(bucket="models", endpoint_url=s3_endpoint, cache_dir=str(tmp_path / "cache"))
    with pytest.raises(UnsafeArtifactPath, match="pointer s3://models/recs_assets/models/m/CURRENT holds"):
        store.local_path("models/m")


def test_s3_store_refuses_keys_outside_its_cache(s3_endpoint, tmp_path):
    store = S3ModelStore(bucket="models", endpoint_url=s3_endpoint, cache_dir=str(tmp_path / "cache"))
    with pytest.raises(UnsafeArtifactPath, match="model store key '../m'"):
        store.publish_dir(_artifact(tmp_path / "v1", "one"), "../m")
    with pytest.raises(UnsafeArtifactPath, match="model store key '../m'"):
        store.local_path("../m")


def test_s3_store_concurrent_downloads_of_one_key_all_succeed(s3_endpoint, tmp_path, fresh_boto_session):
    """Steps sharing the cache folder (the multiprocess executor) download one key at once. Each
    reader is held at its listing until all have read the pointer and found no cached copy, so
    every one of them downloads and renames into the same place."""
    readers = 4
    store = S3ModelStore(bucket="models", endpoint_url=s3_endpoint, cache_dir=str(tmp_path / "cache"))
    store.publish_dir(_artifact(tmp_path / "v1", "one"), "models/m")
    all_listing = threading.Barrier(readers, timeout=60)

    def hold(**_):
        all_listing.wait()  # returns None: a value returned from before-call would replace the response

    fresh_boto_session.events.register("before-call.s3.ListObjectsV2", hold)
    store._client()  # the session's shared parts are built once, before the threads
    results: list = [None] * readers

    def read(i):
        try:
            path = store.local_path("models/m")
            results[i] = ((path / "a.txt").read_text(), (path / "sub" / "b.txt").read_text())
        except Exception as err:  # reported below, with every reader's outcome
            results[i] = err

    threads = [threading.Thread(target=read, args=(i,)) for i in range(readers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert results == [("one", "oneone")] * readers
    [version] = os.listdir(tmp_path / "cache" / "models" / "m")  # one complete copy, no staging left
    assert not version.startswith(".")
