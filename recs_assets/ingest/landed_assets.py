"""``landed_transactions``: one dynamic partition per landed file content (its load id, added by the
landing sensor); materializing a partition appends that file with the loaders' validation. A bad file
is quarantined and the run fails; a partition materialized again reloads its file from the archive
(the load replaces its own rows, so the data stays there once)."""

from dagster import (
    AssetExecutionContext,
    Config,
    DynamicPartitionsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from recs_assets.ingest.landing_zone import LandedFile, LandedFileChanged, LandingZone
from recs_assets.ingest.append import append_transactions, read_transaction_file
from recs_assets.ingest.schema import LANDED_TRANSACTIONS, LANDING_SCHEMA
from recs_assets.ingest.validation import RawDataError
from recs_assets.resources.warehouse import Warehouse

landed_files = DynamicPartitionsDefinition(name="landed_files")


class LandedFileConfig(Config):
    """The file as the landing sensor saw it; left empty, the partition's file is looked up by content."""

    name: str = Field("", description="File name inside the landing zone (empty: find the partition's file).")
    fingerprint: str = Field("", description="Content hash (sha256, or a single-part S3 ETag: MD5); names the load.")
    size: int = Field(0, ge=0)


def _file_of(partition: str, config: LandedFileConfig, landing: LandingZone) -> tuple[LandedFile, bool]:
    """The partition's file and whether it sits in the archive already."""
    if config.name:
        file = LandedFile(config.name, config.fingerprint, config.size)
        if file.load_id != partition:
            raise Failure(f"run config names {file.name} (load {file.load_id}), not partition {partition}")
        return file, False
    found = landing.locate(partition)
    if found is None:
        raise Failure(f"no file with the content of partition {partition} in {landing.describe()} or its"
                      " archive (quarantined, or removed by hand); nothing was loaded")
    return found


@asset(group_name="raw", kinds={"python"}, tags={"recs_assets/feed": "landing"}, partitions_def=landed_files)
def landed_transactions(
    context: AssetExecutionContext, config: LandedFileConfig, warehouse: Warehouse, landing: LandingZone
) -> MaterializeResult:
    """Purchase lines appended after the initial load, one landed file per partition; the staging
    model unions every partition with raw_transactions."""
    file, archived = _file_of(context.partition_key, config, landing)
    try:
        content = landing.read_verified(file)
    except LandedFileChanged as err:
        raise Failure(str(err), metadata={"file": file.name, "fingerprint": file.fingerprint}) from None
    except (FileNotFoundError, OSError) as err:
        raise Failure(f"{file.name} is no longer in {landing.describe()} ({err}); nothing was loaded") from None
    try:
        summary = append_transactions(warehouse, file.name, read_transaction_file(file.name, content), file.load_id)
    except RawDataError as err:
        where = landing.quarantine(file, str(err))
        raise Failure(
            description=f"{err}. The file was moved to {where}.",
            metadata={"file": file.name, "quarantined_to": where, "problem": str(err)},
        ) from None
    stored = f"{landing.describe().rstrip('/')}/{file.name} (reloaded)" if archived else landing.archive(file)
    total, _ = warehouse.table_stats(LANDING_SCHEMA, LANDED_TRANSACTIONS.name)
    context.log.info(f"appended {summary['rows']} rows from {file.name}; archived to {stored}")
    return MaterializeResult(
        metadata={
            "file": file.name,
            "fingerprint": file.fingerprint,
            "load_id": file.load_id,
            "rows_appended": summary["rows"],
            "customers": summary["customers"],
            "articles": summary["articles"],
            "days": f"{summary['first_day']} .. {summary['last_day']}",
            "archived_to": stored,
            "dagster/row_count": total,
            "dagster/table_name": summary["table"],
            "landing_zone": MetadataValue.text(landing.describe()),
        }
    )
