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
    assert summary.rows == 50 and _landed_count(warehouse) == 50
    append_transactions(warehouse, "other.csv", frame.head(10), "landed_b")
    assert _landed_count(warehouse) == 60


def test_parquet_files_load_too(loaded):
    warehouse, sample = loaded
    buffer = io.BytesIO()
    sample.to_parquet(buffer, index=False)
    frame = read_transaction_file("week.parquet", buffer.getvalue())
    assert append_transactions(warehouse, "week.parquet", frame, "landed_p").rows == 50


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


def test_s3_files_are_read_as_the_version_the_listing_saw(moto_endpoint):
    """Single-part and multipart objects alike: the listing names the version (ETag, size), the read
    streams that version and hashes it; an object overwritten after the listing is not read."""
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
    assert files["big.csv"].etag.endswith("-2") and files["big.csv"].size == len(big)
    content, sha256 = zone.fetch(files["big.csv"])
    assert content == big and sha256 == hashlib.sha256(big).hexdigest()
    assert zone.read_verified(files["small.csv"]) == b"rows"
    s3.put_object(Bucket="recs-hashes", Key="landing/small.csv", Body=b"other rows")  # overwritten after listing
    with pytest.raises(LandedFileChanged, match="small.csv changed after the sensor saw it"):
        zone.read_verified(files["small.csv"])


def test_s3_objects_whose_etag_is_not_their_md5_load(moto_endpoint):
    """AWS documents that the ETag of an object encrypted with SSE-KMS or SSE-C is not the MD5 of its
    content. moto gives every object its MD5, so the object's ETag is set here to an opaque value of
    the same shape, as AWS would return it; the file must still be listed, read and verified."""
    import boto3
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    s3.create_bucket(Bucket="recs-kms")
    s3.put_object(Bucket="recs-kms", Key="landing/week.csv", Body=b"rows", ServerSideEncryption="aws:kms")
    s3_backends[DEFAULT_ACCOUNT_ID]["aws"].buckets["recs-kms"].keys["landing/week.csv"]._etag = "5" * 32
    zone = S3LandingZone(bucket="recs-kms", prefix="landing/", endpoint_url=moto_endpoint)
    [file] = zone.list_files()
    assert zone.read_verified(file) == b"rows"


def test_sensor_ticks_download_nothing_from_s3(moto_endpoint, fresh_boto_session):
    """Three ticks over a multipart and a single-part file: listings only, not one GetObject."""
    s3 = fresh_boto_session.client("s3", endpoint_url=moto_endpoint)
    s3.create_bucket(Bucket="recs-ticks")
    s3.put_object(Bucket="recs-ticks", Key="landing/small.csv", Body=b"rows")
    upload = s3.create_multipart_upload(Bucket="recs-ticks", Key="landing/big.csv")["UploadId"]
    part = s3.upload_part(Bucket="recs-ticks", Key="landing/big.csv", UploadId=upload, PartNumber=1, Body=b"y" * 1000)
    s3.complete_multipart_upload(Bucket="recs-ticks", Key="landing/big.csv", UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    gets = []
    fresh_boto_session.events.register("before-call.s3.GetObject", lambda model, **_: gets.append(model.name))
    zone = S3LandingZone(bucket="recs-ticks", prefix="landing/", endpoint_url=moto_endpoint)
    instance, cursor, requested = DagsterInstance.ephemeral(), None, []
    for _ in range(3):
        result = landing_sensor(build_sensor_context(cursor=cursor, resources={"landing": zone}, instance=instance))
        if not isinstance(result, SkipReason):
            cursor, requested = result.cursor, requested + [r.run_config for r in result.run_requests]
    assert gets == [] and len(requested) == 2  # both requested once, on the first tick
    configs = {c["ops"]["landed_transactions"]["config"]["name"]: c["ops"]["landed_transactions"]["config"]
               for c in requested}
    assert configs["big.csv"]["size"] == 1000 and configs["big.csv"]["etag"].endswith("-1")
    assert configs["small.csv"]["etag"] == hashlib.md5(b"rows").hexdigest() and configs["small.csv"]["modified"]


def test_s3_cursors_and_run_configs_of_earlier_releases_still_work(moto_endpoint):
    """Earlier releases keyed the cursor by a single-part object's ETag and put it in the run config
    as the fingerprint: a file they requested is not requested again, and their run config loads it."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    s3.create_bucket(Bucket="recs-old")
    s3.put_object(Bucket="recs-old", Key="landing/w1.csv", Body=b"rows")
    etag = hashlib.md5(b"rows").hexdigest()
    old_cursor = f'{{"{etag}": "w1.csv"}}'  # what write_cursor stored
    zone = S3LandingZone(bucket="recs-old", prefix="landing/", endpoint_url=moto_endpoint)
    result = landing_sensor(build_sensor_context(cursor=old_cursor, resources={"landing": zone},
                                                 instance=DagsterInstance.ephemeral()))
    assert isinstance(result, SkipReason)
    [file] = zone.list_files()
    [requested] = plan([file], read_cursor(old_cursor))[2]
    assert requested.load_id == f"landed_{etag[:20]}"  # the old run's partition and run key
    assert zone.read_verified(LandedFile("w1.csv", etag, 4)) == b"rows"  # an old run config's file
    s3.put_object(Bucket="recs-old", Key="landing/w1.csv", Body=b"ROWS")
    from recs_assets.ingest.landing_zone import LandedFileChanged

    with pytest.raises(LandedFileChanged):
        zone.read_verified(LandedFile("w1.csv", etag, 4))


def test_s3_archive_keeps_the_load_identity(moto_endpoint):
    """Copying into archive/ gives the object a new date (and, encrypted, a new ETag): the load's
    fingerprint travels as object metadata, so a partition materialized again finds its file."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    s3.create_bucket(Bucket="recs-arch")
    s3.put_object(Bucket="recs-arch", Key="landing/week.csv", Body=b"rows")
    zone = S3LandingZone(bucket="recs-arch", prefix="landing/", endpoint_url=moto_endpoint)
    [file] = zone.list_files()
    zone.archive(file)
    stored, archived = zone.locate(file.load_id)
    assert archived and stored.fingerprint == file.fingerprint and zone.read_verified(stored) == b"rows"


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


def _run_landed(zone, warehouse, instance, load_id, config=None):
    """One run of landed_transactions for partition ``load_id`` (added first, as the sensor does)."""
    from dagster import materialize

    from recs_assets.ingest.landed_assets import landed_transactions

    instance.add_dynamic_partitions("landed_files", [load_id])
    run_config = {"ops": {"landed_transactions": {"config": config}}} if config else None
    return materialize([landed_transactions], partition_key=load_id, instance=instance, raise_on_error=False,
                       resources={"warehouse": warehouse, "landing": zone}, run_config=run_config)


def _failure(result) -> str:
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return failure.event_specific_data.error.message


def test_a_run_config_name_outside_the_landing_zone_is_refused_unread(tmp_path, warehouse):
    """A name with ``..`` (or a link leading out) must not read, show, quarantine or move the file."""
    (tmp_path / "landing").mkdir()
    (tmp_path / "outside").mkdir()
    secret = tmp_path / "outside" / "notes.csv"
    secret.write_bytes(b"password_column,token_column\nhunter2,abc\n")
    sha = hashlib.sha256(secret.read_bytes()).hexdigest()
    zone = LocalLandingZone(root=str(tmp_path / "landing"))
    config = {"name": "../outside/notes.csv", "fingerprint": sha, "size": secret.stat().st_size}
    result = _run_landed(zone, warehouse, DagsterInstance.ephemeral(), f"landed_{sha[:20]}", config)
    message = _failure(result)
    assert not result.success and "'../outside/notes.csv' is not a file inside the landing zone" in message
    assert "password_column" not in message and "hunter2" not in message
    assert secret.exists() and not (tmp_path / "landing" / "quarantine").exists()
    (tmp_path / "landing" / "link.csv").symlink_to(secret)  # a plain name that resolves outside
    with pytest.raises(ValueError, match="'link.csv' resolves outside the landing zone"):
        zone.read_verified(LandedFile("link.csv", sha, secret.stat().st_size))


def test_a_file_reloaded_from_the_archive_can_be_quarantined(tmp_path):
    (tmp_path / "week.csv").write_bytes(b"rows")
    zone = LocalLandingZone(root=str(tmp_path))
    [file] = zone.list_files()
    zone.archive(file)
    stored, archived = zone.locate(file.load_id)
    where = zone.quarantine(stored, "week.csv: no longer fits raw_customers")
    assert archived and where == str(tmp_path / "quarantine" / f"{file.fingerprint[:12]}-week.csv")
    assert (tmp_path / "quarantine" / f"{file.fingerprint[:12]}-week.csv").read_bytes() == b"rows"
    assert "no longer fits" in (tmp_path / "quarantine" / f"{file.fingerprint[:12]}-week.csv.reason.txt").read_text()
    assert list((tmp_path / "archive").iterdir()) == []


def test_files_over_the_size_cap_are_not_read(tmp_path, warehouse):
    """The cap is run config (max_bytes); the error names file, size and cap; the file stays put."""
    (tmp_path / "week.csv").write_bytes(b"t_dat,customer_id\n" + b"2020-01-01,a\n" * 10)
    zone = LocalLandingZone(root=str(tmp_path))
    [file] = zone.list_files()
    config = {"name": file.name, "fingerprint": file.fingerprint, "size": file.size, "max_bytes": 100}
    result = _run_landed(zone, warehouse, DagsterInstance.ephemeral(), file.load_id, config)
    assert not result.success
    assert f"week.csv in {zone.describe()} is {file.size} bytes, over the cap of 100 bytes" in _failure(result)
    assert (tmp_path / "week.csv").exists() and not (tmp_path / "quarantine").exists()
    (tmp_path / "week.csv").write_bytes(b"x" * 500)  # grew after the listing
    from recs_assets.ingest.landing_zone import LandedFileTooLarge

    with pytest.raises(LandedFileTooLarge, match="week.csv .* is more than 200 bytes, over the cap of 200 bytes"):
        zone.fetch(file, max_bytes=200)


def test_content_loaded_before_is_not_loaded_again_from_s3(loaded, moto_endpoint):
    """The same bytes as another S3 object (a multipart re-upload: another ETag, so another listing
    fingerprint) are recognised by the run, which hashes what it reads: quarantined, not loaded twice."""
    import boto3

    warehouse, sample = loaded
    body = _csv(sample)
    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    s3.create_bucket(Bucket="recs-dup")
    s3.put_object(Bucket="recs-dup", Key="landing/week.csv", Body=body)
    zone = S3LandingZone(bucket="recs-dup", prefix="landing/", endpoint_url=moto_endpoint)
    instance = DagsterInstance.ephemeral()
    [first] = zone.list_files()
    assert _run_landed(zone, warehouse, instance, first.load_id).success
    upload = s3.create_multipart_upload(Bucket="recs-dup", Key="landing/copy.csv")["UploadId"]
    part = s3.upload_part(Bucket="recs-dup", Key="landing/copy.csv", UploadId=upload, PartNumber=1, Body=body)
    s3.complete_multipart_upload(Bucket="recs-dup", Key="landing/copy.csv", UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    [copy] = zone.list_files()
    assert copy.load_id != first.load_id
    result = _run_landed(zone, warehouse, instance, copy.load_id)
    assert not result.success and f"same content (sha256 {hashlib.sha256(body).hexdigest()})" in _failure(result)
    assert _landed_count(warehouse) == len(sample) and zone.list_files() == []
    quarantined = {o["Key"] for o in s3.list_objects_v2(Bucket="recs-dup", Prefix="landing/quarantine/")["Contents"]}
    assert any(k.endswith("-copy.csv") for k in quarantined)


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
    assert append_transactions(warehouse, "week.csv", frame, "landed_killed").rows == 50
    assert _landed_count(warehouse) == 50
