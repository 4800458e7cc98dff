"""The landing zone (local folder and S3 over moto), the append of one landed file, the sensor's
bookkeeping and the weekly schedule: each on its own, small and fast."""

from __future__ import annotations

import hashlib
import io
from datetime import datetime, timezone

import pandas as pd
import pytest
from dagster import DagsterInstance, SkipReason, build_schedule_context, build_sensor_context

from recs_assets.ingest.landing_zone import LandedFile, LocalLandingZone, S3LandingZone
from recs_assets.automation.schedules import weekly_retraining
from recs_assets.automation.sensors import landing_sensor, plan, read_cursor
from recs_assets.ingest.append import append_transactions, read_transaction_file
from recs_assets.ingest.load import load_raw
from recs_assets.ingest.sources import RawSource
from recs_assets.ingest.validation import RawDataError
from recs_assets.training.grid import GRID


@pytest.fixture
def loaded(warehouse):
    load_raw(warehouse, RawSource(name="synthetic", scale=0.0005, seed=3).chunks(), load_id="initial")
    sample = warehouse.query(
        "select strftime(t_dat, '%Y-%m-%d') as t_dat, customer_id, article_id, price, sales_channel_id "
        "from raw.raw_transactions order by t_dat desc, customer_id limit 50"
    )
    return warehouse, sample


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _landed_count(warehouse) -> int:
    return int(warehouse.query("select count(*) as n from landing.landed_transactions")["n"][0])


def test_the_same_load_twice_leaves_one_copy(loaded):
    warehouse, sample = loaded
    frame = read_transaction_file("week.csv", _csv(sample))
    summary = append_transactions(warehouse, "week.csv", frame, "landed_a")
    append_transactions(warehouse, "week.csv", frame, "landed_a")  # a retried run
    assert summary["rows"] == 50 and _landed_count(warehouse) == 50
    append_transactions(warehouse, "other.csv", frame.head(10), "landed_b")
    assert _landed_count(warehouse) == 60


def test_parquet_files_load_too(loaded):
    warehouse, sample = loaded
    buffer = io.BytesIO()
    sample.to_parquet(buffer, index=False)
    frame = read_transaction_file("week.parquet", buffer.getvalue())
    assert append_transactions(warehouse, "week.parquet", frame, "landed_p")["rows"] == 50


@pytest.mark.parametrize("name,content,message", [
    ("empty.csv", b"", "empty.csv: file is empty"),
    ("header.csv", b"t_dat,customer_id,article_id,price,sales_channel_id\n", "header.csv: header only"),
    ("notes.txt", b"hello", "notes.txt: unsupported file type"),
    ("cols.csv", b"t_dat,customer,article_id,price,sales_channel_id\n2020-01-01,a,1,0.1,1\n",
     "cols.csv: missing column(s) ['customer_id']"),
])
def test_unreadable_files_are_named(name, content, message):
    with pytest.raises(RawDataError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        read_transaction_file(name, content)


@pytest.mark.parametrize("column,value,message", [
    ("t_dat", "yesterday", "column 't_dat' has 1 value(s) that are not dates"),
    ("price", "-1", "column 'price' has 1 negative value(s)"),
    ("customer_id", "stranger", "1 rows whose customer_id is not in raw_customers (e.g. 'stranger')"),
    ("article_id", "999999999", "1 rows whose article_id is not in raw_articles"),
])
def test_bad_rows_are_rejected_and_nothing_is_written(loaded, column, value, message):
    warehouse, sample = loaded
    append_transactions(warehouse, "good.csv", read_transaction_file("good.csv", _csv(sample)), "landed_good")
    bad = sample.copy()
    bad.loc[bad.index[0], column] = value
    with pytest.raises(RawDataError, match="bad.csv: .*" + message.replace("(", r"\(").replace(")", r"\)")):
        append_transactions(warehouse, "bad.csv", read_transaction_file("bad.csv", _csv(bad)), "landed_bad")
    assert _landed_count(warehouse) == 50
    leftovers = warehouse.query("select table_name from information_schema.tables where table_name like '_staging%'")
    assert leftovers.empty


def test_local_zone_lists_only_finished_data_files(tmp_path):
    (tmp_path / "a.csv").write_bytes(b"x")
    (tmp_path / "b.csv.part").write_bytes(b"still uploading")
    (tmp_path / ".hidden.csv").write_bytes(b"x")
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "old.csv").write_bytes(b"x")
    zone = LocalLandingZone(root=str(tmp_path))
    [file] = zone.list_files()
    assert file.name == "a.csv" and file.size == 1 and len(file.fingerprint) == 64
    assert zone.locate(file.load_id) == (file, False)
    archived = zone.archive(file)
    assert not (tmp_path / "a.csv").exists() and archived.endswith(f"{file.fingerprint[:12]}-a.csv")
    assert zone.list_files() == []
    # a loaded file is found again by its load id, in the archive (a partition materialized again)
    stored, in_archive = zone.locate(file.load_id)
    assert in_archive and stored.name == f"archive/{file.fingerprint[:12]}-a.csv" and zone.read_verified(stored) == b"x"
    assert zone.locate("landed_" + "0" * 20) is None
    # the archive is searched by the stored name's fingerprint prefix: other archived files are not read
    assert [f.name for f in zone.list_files("archive")] == sorted(["archive/old.csv", stored.name])
    assert zone.list_files("archive", starting=file.fingerprint[:12]) == [stored]


def test_s3_zone_over_http(moto_endpoint):
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    s3.create_bucket(Bucket="recs")
    archived = f"archive/{hashlib.md5(b'b').hexdigest()[:12]}-old.csv"  # as archive() names a loaded file
    for key, body in {"landing/week.csv": b"a", f"landing/{archived}": b"b", "landing/w.csv.part": b"c",
                      "elsewhere/x.csv": b"d"}.items():
        s3.put_object(Bucket="recs", Key=key, Body=body)
    zone = S3LandingZone(bucket="recs", prefix="landing/", endpoint_url=moto_endpoint)
    [file] = zone.list_files()
    assert file.name == "week.csv" and zone.read("week.csv") == b"a"
    [old] = zone.list_files("archive")
    assert old.name == archived and zone.locate(old.load_id) == (old, True) and zone.read_verified(old) == b"b"
    where = zone.quarantine(file, "week.csv: bad")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="recs", Prefix="landing/quarantine/")["Contents"]}
    assert where.startswith("s3://recs/landing/quarantine/") and len(keys) == 2
    assert zone.list_files() == []


def test_s3_fingerprints_are_content_hashes_and_reads_are_checked(moto_endpoint):
    """A single-part ETag is the content's MD5; a multipart one is not, so its file is hashed (sha256).
    Either way the bytes a run reads are checked against the fingerprint the sensor took."""
    import hashlib

    import boto3

    from recs_assets.ingest.landing_zone import LandedFileChanged

    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    s3.create_bucket(Bucket="recs-hashes")
    s3.put_object(Bucket="recs-hashes", Key="landing/small.csv", Body=b"rows")
    big = b"x" * (5 * 2**20) + b"tail"
    upload = s3.create_multipart_upload(Bucket="recs-hashes", Key="landing/big.csv")["UploadId"]
    parts = [{"PartNumber": n, "ETag": s3.upload_part(Bucket="recs-hashes", Key="landing/big.csv", UploadId=upload,
                                                     PartNumber=n, Body=body)["ETag"]}
             for n, body in ((1, big[: 5 * 2**20]), (2, big[5 * 2**20:]))]
    s3.complete_multipart_upload(Bucket="recs-hashes", Key="landing/big.csv", UploadId=upload, MultipartUpload={"Parts": parts})
    zone = S3LandingZone(bucket="recs-hashes", prefix="landing/", endpoint_url=moto_endpoint)
    files = {f.name: f for f in zone.list_files()}
    assert files["small.csv"].fingerprint == hashlib.md5(b"rows").hexdigest()
    assert files["big.csv"].fingerprint == hashlib.sha256(big).hexdigest()
    assert zone.read_verified(files["big.csv"]) == big
    s3.put_object(Bucket="recs-hashes", Key="landing/small.csv", Body=b"other rows")  # overwritten after listing
    with pytest.raises(LandedFileChanged, match="small.csv changed after the sensor fingerprinted it"):
        zone.read_verified(files["small.csv"])


def test_sensor_requests_each_content_once_over_s3(moto_endpoint):
    import boto3

    boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(Bucket="recs")
    zone = S3LandingZone(bucket="recs", prefix="landing/", endpoint_url=moto_endpoint)
    boto3.client("s3", endpoint_url=moto_endpoint).put_object(Bucket="recs", Key="landing/w1.csv", Body=b"rows")
    first = landing_sensor(build_sensor_context(resources={"landing": zone}))
    [request] = first.run_requests
    assert request.run_key.startswith("landed_") and request.tags["recs_assets/landing"] == "ingest"
    # next tick, its run not started yet: nothing new, and the waiting file is left alone
    second = landing_sensor(build_sensor_context(cursor=first.cursor, resources={"landing": zone},
                                                 instance=DagsterInstance.ephemeral()))
    assert isinstance(second, SkipReason) and [f.name for f in zone.list_files()] == ["w1.csv"]


def test_plan_separates_new_waiting_and_duplicate_files():
    seen = {"f1": "a.csv"}
    files = [LandedFile("a.csv", "f1", 1), LandedFile("b.csv", "f2", 1), LandedFile("c.csv", "f2", 1),
             LandedFile("copy_of_a.csv", "f1", 1)]
    new, duplicates, requested = plan(files, seen)
    assert [f.name for f in new] == ["b.csv"] and [f.name for f in requested] == ["a.csv"]
    assert [(f.name, earlier) for f, earlier in duplicates] == [("c.csv", "b.csv"), ("copy_of_a.csv", "a.csv")]
    assert read_cursor(None) == {}


def test_weekly_schedule_retrains_every_partition_once_per_week():
    monday = datetime(2026, 11, 30, 4, 0, tzinfo=timezone.utc)
    requests = list(weekly_retraining(build_schedule_context(scheduled_execution_time=monday)))
    assert [r.partition_key for r in requests] == [p.key for p in GRID]
    assert len({r.run_key for r in requests}) == len(GRID) and all("2026-11-30" in r.run_key for r in requests)


_STAGE_THEN_HANG = """
import sys, time
import pandas as pd
from recs_assets.ingest.schema import LANDED_TRANSACTIONS, LANDING_SCHEMA
from recs_assets.resources.warehouse import DuckDBWarehouse
from recs_assets.ingest.append import read_transaction_file
from recs_assets.ingest.validation import normalize_chunk

path, csv, marker = sys.argv[1:4]
frame = read_transaction_file("week.csv", open(csv, "rb").read())
rows = normalize_chunk(LANDED_TRANSACTIONS, frame, "week.csv", "landed_killed", pd.Timestamp("2024-01-01"))
with DuckDBWarehouse(path=path).staged_append(LANDING_SCHEMA, {"landed_transactions": LANDED_TRANSACTIONS.all_columns},
                                              "landed_killed") as load:
    load.append("landed_transactions", rows)
    open(marker, "w").write("staged")
    time.sleep(600)  # killed here, staging table written, nothing published
"""


def test_a_load_killed_while_staging_does_not_block_its_retry(loaded, tmp_path):
    """kill -9 during staging leaves the staging table behind; the retry of the same file (same load
    id) must replace it, not fail with 'already exists', and leave the rows there exactly once."""
    import signal
    import subprocess
    import sys
    import time

    warehouse, sample = loaded
    csv, marker = tmp_path / "week.csv", tmp_path / "staged"
    csv.write_bytes(_csv(sample))
    child = subprocess.Popen([sys.executable, "-c", _STAGE_THEN_HANG, warehouse.path, str(csv), str(marker)])
    try:
        for _ in range(600):
            if marker.exists() or child.poll() is not None:
                break
            time.sleep(0.1)
        assert marker.exists(), "the child never staged its rows"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    frame = read_transaction_file("week.csv", csv.read_bytes())
    assert append_transactions(warehouse, "week.csv", frame, "landed_killed")["rows"] == 50
    assert _landed_count(warehouse) == 50
