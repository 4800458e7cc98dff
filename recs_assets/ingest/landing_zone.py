"""The landing zone: where new transaction files are dropped. A local folder by default, an S3 prefix in prod.

Only files directly in the landing location with a known suffix (.csv, .parquet) are candidates;
writers should upload under another name (e.g. ``.part``) and rename when done. A loaded file moves
to ``archive/``, a rejected one to ``quarantine/`` next to a ``.reason.txt`` saying why.

Each file has a fingerprint, which names its load (``landed_<fingerprint[:20]>``):
- locally, the sha256 of its content, so the same data dropped twice, under any name, is recognised
  by the sensor;
- on S3, a hash of what the listing says of the object (ETag, size, last-modified), so a sensor
  tick downloads nothing. The ETag is not taken for the content's MD5 (it is not one for multipart
  uploads, nor for objects encrypted with SSE-KMS or SSE-C); it identifies the object's version,
  and the run reads that version only (``If-Match``) and checks its size.
Earlier releases fingerprinted S3 files by their ETag (single-part) or their bytes' sha256
(multipart); their run configs, cursors and archives are still understood.

The run that loads a file streams it in blocks, up to a size cap, hashing the bytes (sha256) as
they come; what it read must be what the sensor saw, or nothing is loaded.

File names (a run config may carry one) are confined to the landing location: anything that would
resolve outside it is refused before a byte is read.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterator, NamedTuple

from dagster import ConfigurableResource
from pydantic import Field

from recs_assets.ingest.append import READERS

ARCHIVE, QUARANTINE = "archive", "quarantine"
BLOCK = 1 << 20
DEFAULT_MAX_BYTES = 1 << 30  # landed files are parsed in memory; larger weekly drops should be split
FINGERPRINT_METADATA = "recs-fingerprint"  # S3 user metadata of an archived object: the load's fingerprint
_LOAD_ID = re.compile(r"landed_[0-9a-f]{1,20}")
_HEX = re.compile(r"[0-9a-f]{32}|[0-9a-f]{64}")


@dataclass(frozen=True)
class LandedFile:
    name: str
    fingerprint: str
    size: int
    etag: str = ""  # S3: the object version the sensor saw (what a run reads, with If-Match)
    modified: str = ""  # S3: its last-modified time (part of the fingerprint)

    @property
    def load_id(self) -> str:
        return f"landed_{self.fingerprint[:20]}"


class LandedContent(NamedTuple):
    content: bytes
    sha256: str


class LandedFileChanged(RuntimeError):
    """The file's bytes are not the ones its fingerprint was taken from (overwritten after the sensor saw it)."""


class LandedFileTooLarge(RuntimeError):
    """The file is over the size cap of one load."""


class LandingNameError(ValueError):
    """A file name that is not a file inside the landing location."""


def listing_fingerprint(etag: str, size: int, modified: str) -> str:
    """The fingerprint of an S3 object from its listing entry alone."""
    return hashlib.sha256(f"s3\n{etag}\n{size}\n{modified}".encode()).hexdigest()


def _is_candidate(name: str) -> bool:
    return not name.startswith(".") and PurePosixPath(name).suffix.lower() in READERS


def _stored_name(file: LandedFile) -> str:
    """The name under archive/ or quarantine/: the fingerprint's start, then the file's own name
    (kept as it is for a file that already has it, i.e. one taken from the archive)."""
    base, stamp = PurePosixPath(file.name).name, f"{file.fingerprint[:12]}-"
    return base if base.startswith(stamp) else stamp + base


def check_name(name: str, where: str) -> str:
    """``name`` if it is a plain relative name inside the landing location (``file.csv`` or
    ``archive/<file>``), else ``LandingNameError`` naming it (and nothing of any file's content)."""
    parts = name.split("/")
    if (not name or "\\" in name or any(p in ("", ".", "..") for p in parts) or len(parts) > 2
            or (len(parts) == 2 and parts[0] != ARCHIVE)):
        raise LandingNameError(f"{name!r} is not a file inside the landing zone {where}; nothing was read")
    return name


class LandingZone(ConfigurableResource):
    """What the sensor and the landed_transactions asset need of a landing location."""

    def list_files(self, folder: str = "", starting: str = "") -> list[LandedFile]:
        """Files waiting in the landing location, or (``folder="archive"``) the loaded ones kept in
        its archive, named relative to the landing location; only those whose own name begins with
        ``starting`` (the others are not read or hashed)."""
        raise NotImplementedError

    def blocks(self, file: LandedFile) -> Iterator[bytes]:
        """``file``'s bytes in blocks; ``LandedFileChanged`` where the store itself can tell they are
        not the version the fingerprint was taken from, ``FileNotFoundError`` if it is gone."""
        raise NotImplementedError

    def _store_checks_identity(self, file: LandedFile) -> bool:
        """Whether ``blocks`` already made sure of ``file``'s version (else its sha256 is compared)."""
        return False

    def read(self, name: str) -> bytes:
        """The whole file (no checks: for tests and small files)."""
        return b"".join(self.blocks(LandedFile(name, "", 0)))

    def locate(self, load_id: str) -> tuple[LandedFile, bool] | None:
        """The file whose content has ``load_id`` and whether it is already archived (loaded before),
        looking first among the waiting files, then in the archive; ``None`` if neither holds it."""
        if not _LOAD_ID.fullmatch(load_id):
            return None
        archived = _stored_name(LandedFile("", load_id.removeprefix("landed_"), 0))  # "<fingerprint[:12]>-"
        for folder, starting in (("", ""), (ARCHIVE, archived)):
            for file in self.list_files(folder, starting):
                if file.load_id == load_id:
                    return file, bool(folder)
        return None

    def fetch(self, file: LandedFile, max_bytes: int = DEFAULT_MAX_BYTES) -> LandedContent:
        """``file``'s bytes and their sha256, streamed in blocks and never more than ``max_bytes``
        (``LandedFileTooLarge``); ``LandedFileChanged`` if they are not the ones the sensor saw."""
        check_name(file.name, self.describe())
        if file.size > max_bytes:
            raise LandedFileTooLarge(self._too_large(file, file.size, max_bytes))
        digest, buffer = hashlib.sha256(), io.BytesIO()
        for block in self.blocks(file):
            if buffer.tell() + len(block) > max_bytes:  # it grew after the listing: stop reading now
                raise LandedFileTooLarge(self._too_large(file, f"more than {max_bytes:,}", max_bytes))
            digest.update(block)
            buffer.write(block)
        found = digest.hexdigest()
        size = buffer.tell()
        if size != file.size or not (self._store_checks_identity(file) or found == file.fingerprint):
            raise LandedFileChanged(
                f"{file.name} changed after the sensor fingerprinted it (expected {file.size:,} bytes,"
                f" {file.fingerprint[:16]}…; read {size:,} bytes, sha256 {found[:16]}…); nothing was loaded:"
                " the sensor requests the new content as its own load")
        return LandedContent(buffer.getvalue(), found)

    def read_verified(self, file: LandedFile, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
        """``file``'s bytes, or ``LandedFileChanged`` if they are not the ones it was fingerprinted from."""
        return self.fetch(file, max_bytes).content

    def _too_large(self, file: LandedFile, size, max_bytes: int) -> str:
        size = f"{size:,}" if isinstance(size, int) else size
        return (f"{file.name} in {self.describe()} is {size} bytes, over the cap of {max_bytes:,} bytes per"
                " landed file (run config max_bytes of landed_transactions); nothing was loaded and the file"
                " was left where it is: split it, or raise the cap and re-execute the run")

    def archive(self, file: LandedFile) -> str:
        raise NotImplementedError

    def quarantine(self, file: LandedFile, reason: str) -> str:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


class LocalLandingZone(LandingZone):
    root: str = Field(description="Folder new transaction files are dropped into.")

    def _dir(self, *parts: str) -> Path:
        path = Path(self.root, *parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _path(self, name: str) -> Path:
        """The file ``name`` inside the landing folder, refused if it resolves outside (``..``, links)."""
        check_name(name, self.describe())
        root = Path(self.root).resolve()
        path = (root / name).resolve()
        if not path.is_relative_to(root):
            raise LandingNameError(f"{name!r} resolves outside the landing zone {self.describe()}; nothing was read")
        return root / name

    def list_files(self, folder: str = "", starting: str = "") -> list[LandedFile]:
        root = Path(self.root, folder)
        if not root.is_dir():
            return []
        files = []
        for path in sorted(p for p in root.glob(f"{starting}*") if p.is_file() and _is_candidate(p.name)):
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(BLOCK), b""):
                    digest.update(block)
            files.append(LandedFile(str(PurePosixPath(folder, path.name)), digest.hexdigest(), path.stat().st_size))
        return files

    def blocks(self, file: LandedFile) -> Iterator[bytes]:
        with open(self._path(file.name), "rb") as handle:
            yield from iter(lambda: handle.read(BLOCK), b"")

    def archive(self, file: LandedFile) -> str:
        source = self._path(file.name)
        target = self._dir(ARCHIVE) / _stored_name(file)
        source.replace(target)
        return str(target)

    def quarantine(self, file: LandedFile, reason: str) -> str:
        source = self._path(file.name)
        target = self._dir(QUARANTINE) / _stored_name(file)
        target.with_name(target.name + ".reason.txt").write_text(reason + "\n")
        source.replace(target)
        return str(target)

    def describe(self) -> str:
        return f"file:{Path(self.root).resolve()}"


class S3LandingZone(LandingZone):
    bucket: str
    prefix: str = Field("landing/", description="Key prefix of the landing location, ending in '/'.")
    endpoint_url: str | None = Field(None, description="For S3-compatible stores (and moto in tests).")

    def _client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url)

    def _key(self, *parts: str) -> str:
        return self.prefix + "/".join(parts)

    def list_files(self, folder: str = "", starting: str = "") -> list[LandedFile]:
        client = self._client()
        pages = client.get_paginator("list_objects_v2").paginate(  # sub-folders are not listed
            Bucket=self.bucket, Prefix=self.prefix + (f"{folder}/" if folder else "") + starting, Delimiter="/"
        )
        files = []
        for page in pages:
            for obj in page.get("Contents", []):
                name = obj["Key"][len(self.prefix):]
                if not _is_candidate(PurePosixPath(name).name):
                    continue
                etag, modified = obj["ETag"].strip('"'), obj["LastModified"].isoformat()
                if folder:  # archived: copying changed its ETag and date; the load's fingerprint went with it
                    fingerprint = self._archived_fingerprint(client, name, etag)
                else:
                    fingerprint = listing_fingerprint(etag, obj["Size"], modified)
                files.append(LandedFile(name, fingerprint, obj["Size"], etag, modified))
        return sorted(files, key=lambda f: f.name)

    def _archived_fingerprint(self, client, name: str, etag: str) -> str:
        stored = client.head_object(Bucket=self.bucket, Key=self._key(name)).get("Metadata", {}).get(FINGERPRINT_METADATA, "")
        if _HEX.fullmatch(stored):
            return stored
        # Archived by an earlier release, which fingerprinted a file by its ETag, or, for a multipart
        # upload, by its bytes: only reloading such a partition reads it.
        if "-" not in etag:
            return etag
        digest = hashlib.sha256()
        for block in self.blocks(LandedFile(name, "", 0, etag)):
            digest.update(block)
        return digest.hexdigest()

    def _expected_etag(self, file: LandedFile) -> str:
        # An earlier release's run config has no etag; its 32-digit fingerprint was the ETag itself.
        return file.etag or (file.fingerprint if len(file.fingerprint) == 32 else "")

    def _store_checks_identity(self, file: LandedFile) -> bool:
        return bool(self._expected_etag(file))

    def blocks(self, file: LandedFile) -> Iterator[bytes]:
        from botocore.exceptions import ClientError

        key, etag = self._key(check_name(file.name, self.describe())), self._expected_etag(file)
        try:
            body = self._client().get_object(Bucket=self.bucket, Key=key, **({"IfMatch": etag} if etag else {}))["Body"]
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            if code in ("PreconditionFailed", "412"):
                raise LandedFileChanged(
                    f"{file.name} changed after the sensor saw it (ETag {etag} is no longer the object's);"
                    " nothing was loaded: the sensor requests the new content as its own load") from None
            if code in ("NoSuchKey", "404"):
                raise FileNotFoundError(f"s3://{self.bucket}/{key}") from None
            raise
        with body:
            yield from body.iter_chunks(BLOCK)

    def _move(self, file: LandedFile, folder: str) -> str:
        client, target = self._client(), self._key(folder, _stored_name(file))
        source = self._key(check_name(file.name, self.describe()))
        client.copy_object(Bucket=self.bucket, Key=target, CopySource={"Bucket": self.bucket, "Key": source},
                           Metadata={FINGERPRINT_METADATA: file.fingerprint}, MetadataDirective="REPLACE")
        client.delete_object(Bucket=self.bucket, Key=source)
        return f"s3://{self.bucket}/{target}"

    def archive(self, file: LandedFile) -> str:
        return self._move(file, ARCHIVE)

    def quarantine(self, file: LandedFile, reason: str) -> str:
        check_name(file.name, self.describe())
        target = self._key(QUARANTINE, _stored_name(file) + ".reason.txt")
        self._client().put_object(Bucket=self.bucket, Key=target, Body=(reason + "\n").encode())
        return self._move(file, QUARANTINE)

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"
