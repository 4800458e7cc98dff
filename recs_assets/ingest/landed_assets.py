"""``landed_transactions``: one dynamic partition per landed file content (its load id, added by the
landing sensor); materializing a partition appends that file with the loaders' validation. A bad file
is quarantined and the run fails; a partition materialized again reloads its file from the archive
(the load replaces its own rows, so the data stays there once).

The run streams the file (up to ``max_bytes``), hashes it and records the sha256. Content that an
earlier partition already loaded, under whatever name or S3 version, is quarantined instead of
loaded a second time: on S3 the sensor's fingerprint is the object's listing entry, not its bytes,
so this is where such a duplicate is caught."""

from dagster import (
    AssetExecutionContext,
    AssetKey,
    Config,
    DynamicPartitionsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from recs_assets.ingest.landing_zone import (DEFAULT_MAX_BYTES, LandedFile, LandedFileChanged, LandedFileTooLarge,
                                             LandingNameError, LandingZone, check_name)
from recs_assets.ingest.append import append_transactions, read_transaction_file
from recs_assets.ingest.schema import LANDED_TRANSACTIONS, LANDING_SCHEMA
from recs_assets.ingest.validation import RawDataError
from recs_assets.resources.warehouse import Warehouse

landed_files = DynamicPartitionsDefinition(name="landed_files")


class LandedFileConfig(Config):
    """The file as the landing sensor saw it; left empty, the partition's file is looked up by content."""

    name: str = Field("", description="File name inside the landing zone (empty: find the partition's file).")
    fingerprint: str = Field("", description="The file's identity (sha256 of a local file's bytes; on S3 a hash of"
                                             " its ETag, size and last-modified); names the load.")
    size: int = Field(0, ge=0)
    etag: str = Field("", description="S3: the object version the sensor saw; the run reads that version only.")
    modified: str = Field("", description="S3: its last-modified time, as listed.")
    max_bytes: int = Field(DEFAULT_MAX_BYTES, gt=0, description="Largest file one load reads (it is parsed in memory).")


def _file_of(partition: str, config: LandedFileConfig, landing: LandingZone) -> tuple[LandedFile, bool]:
    """The partition's file and whether it sits in the archive already."""
    if config.name:
        try:
            check_name(config.name, landing.describe())
        except LandingNameError as err:
            raise Failure(f"run config of landed_transactions: name {err}") from None
        file = LandedFile(config.name, config.fingerprint, config.size, config.etag, config.modified)
        if file.load_id != partition:
            raise Failure(f"run config names {file.name} (load {file.load_id}), not partition {partition}")
        return file, file.name.startswith("archive/")
    found = landing.locate(partition)
    if found is None:
        raise Failure(f"no file with the content of partition {partition} in {landing.describe()} or its"
                      " archive (quarantined, or removed by hand); nothing was loaded")
    return found


def _earlier_load(context: AssetExecutionContext, sha256: str) -> str | None:
    """The partition (load id) of an earlier materialization of the same bytes, if any. Earlier
    releases recorded only ``fingerprint``, which is the bytes' sha256 for local files."""
    cursor = None
    while True:
        page = context.instance.fetch_materializations(AssetKey("landed_transactions"), limit=1000, cursor=cursor)
        for record in page.records:
            materialization = record.asset_materialization
            if materialization is None or materialization.partition == context.partition_key:
                continue
            metadata = materialization.metadata
            recorded = metadata.get("sha256") or metadata.get("fingerprint")
            if recorded is not None and recorded.value == sha256:
                return materialization.partition
        if not page.has_more:
            return None
        cursor = page.cursor


@asset(group_name="raw", kinds={"python"}, tags={"recs_assets/feed": "landing"}, partitions_def=landed_files)
def landed_transactions(
    context: AssetExecutionContext, config: LandedFileConfig, warehouse: Warehouse, landing: LandingZone
) -> MaterializeResult:
    """Purchase lines appended after the initial load, one landed file per partition; the staging
    model unions every partition with raw_transactions."""
    file, archived = _file_of(context.partition_key, config, landing)
    try:
        content, sha256 = landing.fetch(file, config.max_bytes)
    except (LandedFileChanged, LandedFileTooLarge) as err:
        raise Failure(str(err), metadata={"file": file.name, "fingerprint": file.fingerprint}) from None
    except LandingNameError as err:
        raise Failure(str(err)) from None
    except (FileNotFoundError, OSError) as err:
        raise Failure(f"{file.name} is no longer in {landing.describe()} ({err}); nothing was loaded") from None
    earlier = _earlier_load(context, sha256)
    if earlier is not None:
        reason = f"{file.name}: same content (sha256 {sha256}) as load {earlier}, which is loaded already"
        where = landing.quarantine(file, reason)
        raise Failure(description=f"{reason}; nothing was loaded. The file was moved to {where}.",
                      metadata={"file": file.name, "quarantined_to": where, "sha256": sha256})
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
    context.log.info(f"appended {summary.rows} rows from {file.name}; archived to {stored}")
    return MaterializeResult(
        metadata={
            "file": file.name,
            "fingerprint": file.fingerprint,
            "sha256": sha256,
            "bytes": len(content),
            "load_id": file.load_id,
            "rows_appended": summary.rows,
            "customers": summary.customers,
            "articles": summary.articles,
            "days": f"{summary.first_day} .. {summary.last_day}",
            "archived_to": stored,
            "dagster/row_count": total,
            "dagster/table_name": summary.table,
            "landing_zone": MetadataValue.text(landing.describe()),
        }
    )
