"""The landing sensor: one run of ``ingest_landed_file`` per new transaction file, never two for one file.

Each new file content becomes a partition of ``landed_transactions`` (its load id) in the same tick
that requests its run, so every landed file shows in the UI as a partition with its own lineage.

Three things keep a file from being loaded twice: the cursor (fingerprints already requested, kept
in Dagster's storage, so it survives restarts), the run key (the file's load id: Dagster launches
a sensor's run key once), and the load itself (it replaces rows of its load id, so a retried run
leaves one copy). A file whose content was already requested under another name, or dropped again
after it was loaded, is quarantined.

A tick only lists the landing zone: on S3 a fingerprint comes from the listing (ETag, size,
last-modified), so no object is downloaded. The cursor keeps its shape (fingerprint -> file name);
an entry written by an earlier release, keyed by a single-part object's ETag, still matches its file.
"""

from __future__ import annotations

import dataclasses
import json

from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunConfig,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    sensor,
)

from recs_assets.ingest.landing_zone import LandedFile, LandingZone
from recs_assets.ingest.landed_assets import LandedFileConfig, landed_files, landed_transactions

CURSOR_LIMIT = 5000  # fingerprints remembered; loaded files leave the landing zone, so this is plenty
LANDING_TAG = "recs_assets/landing"
LOAD_ID_TAG = "recs_assets/load_id"

ingest_landed_file = define_asset_job(
    "ingest_landed_file",
    selection=[landed_transactions],
    description="Append one landed transaction file (the landing sensor fills in which).",
)


def read_cursor(cursor: str | None) -> dict[str, str]:
    """fingerprint -> file name, oldest first."""
    return json.loads(cursor) if cursor else {}


def write_cursor(seen: dict[str, str]) -> str:
    return json.dumps(dict(list(seen.items())[-CURSOR_LIMIT:]))


def plan(
    files: list[LandedFile], seen: dict[str, str]
) -> tuple[list[LandedFile], list[tuple[LandedFile, str]], list[LandedFile]]:
    """Split the landing zone's files into new ones, content duplicates (with the earlier name), and
    requested ones (known content under its known name: its run is pending, or it was dropped again)."""
    new, duplicates, requested, batch = [], [], [], {}
    for file in files:
        if file.etag and file.fingerprint not in seen and seen.get(file.etag) == file.name:
            # requested by an earlier release, which fingerprinted S3 files by their ETag: keep its load id
            file = dataclasses.replace(file, fingerprint=file.etag)
        earlier = seen.get(file.fingerprint) or batch.get(file.fingerprint)
        if earlier is None:
            new.append(file)
            batch[file.fingerprint] = file.name
        elif earlier != file.name:
            duplicates.append((file, earlier))
        else:
            requested.append(file)
    return new, duplicates, requested


def _latest_run(instance, file: LandedFile):
    records = instance.get_run_records(RunsFilter(tags={LOAD_ID_TAG: file.load_id}), limit=1)
    return records[0].dagster_run if records else None


def _settle_requested(context: SensorEvaluationContext, landing: LandingZone, file: LandedFile) -> None:
    """A requested file still in the landing zone: a re-drop of loaded data is quarantined; a failed
    run is pointed at (re-execute it); a queued or running one is left alone."""
    run = _latest_run(context.instance, file)
    if run is not None and run.status == DagsterRunStatus.SUCCESS:
        where = landing.quarantine(file, f"{file.name}: already loaded by run {run.run_id}")
        context.log.warning(f"{file.name} was loaded before (run {run.run_id}); quarantined to {where}")
    elif run is not None and run.status == DagsterRunStatus.FAILURE:
        context.log.warning(f"{file.name}: its run {run.run_id} failed; re-execute it once the cause is fixed")


@sensor(
    job=ingest_landed_file,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Requests one ingest_landed_file run per new transaction file in the landing zone.",
)
def landing_sensor(context: SensorEvaluationContext, landing: LandingZone):
    seen = read_cursor(context.cursor)
    new, duplicates, requested = plan(landing.list_files(), seen)
    for file in requested:
        _settle_requested(context, landing, file)
    for file, earlier in duplicates:
        reason = f"{file.name}: same content as {earlier}, which was already requested (see its run)"
        where = landing.quarantine(file, reason)
        context.log.warning(f"{file.name} duplicates {earlier}; quarantined to {where}")
    if not new:
        return SkipReason(f"no new files in {landing.describe()}")
    requests = []
    for file in new:
        seen[file.fingerprint] = file.name
        requests.append(
            RunRequest(
                run_key=file.load_id,
                partition_key=file.load_id,
                run_config=RunConfig(
                    {"landed_transactions": LandedFileConfig(name=file.name, fingerprint=file.fingerprint, size=file.size,
                                                             etag=file.etag, modified=file.modified)}
                ),
                tags={LANDING_TAG: "ingest", LOAD_ID_TAG: file.load_id, "recs_assets/file": file.name[:63]},
            )
        )
        context.log.info(f"requesting a load of {file.name} ({file.size} bytes, {file.fingerprint[:12]})")
    return SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[landed_files.build_add_request([file.load_id for file in new])],
        cursor=write_cursor(seen),
    )
