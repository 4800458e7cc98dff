"""The landing zone: where new transaction files are dropped. A local folder by default, an S3 prefix in prod.

Only files directly in the landing location with a known suffix (.csv, .parquet) are candidates;
writers should upload under another name (e.g. ``.part``) and rename when done. A loaded file moves
to ``archive/``, a rejected one to ``quarantine/`` next to a ``.reason.txt`` saying why. Each file is
identified by a hash of its content (sha256 locally; on S3 the ETag of a single-part upload, which
is the content's MD5, and for a multipart upload, whose ETag is not a content hash, the sha256 of its
bytes, read at each listing until the file is archived), so the same data dropped twice, under any name, is recognised. The run that loads
a file hashes the bytes it read again and loads nothing if they are not the ones the sensor saw.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from dagster import ConfigurableResource
from pydantic import Field

from recs_assets.ingest.append import READERS

ARCHIVE, QUARANTINE = "archive", "quarantine"


@dataclass(frozen=True)
class LandedFile:
    name: str
    fingerprint: str
    size: int

    @property
    def load_id(self) -> str:
        return f"landed_{self.fingerprint[:20]}"


class LandedFileChanged(RuntimeError):
    """The file's bytes are not the ones its fingerprint was taken from (overwritten after the sensor saw it)."""


def content_fingerprint(content: bytes, like: str) -> str:
    """The hash of ``content`` of the kind ``like`` is (64 hex digits: sha256; 32: MD5, an S3 ETag)."""
    if len(like) == 32:
        return hashlib.md5(content, usedforsecurity=False).hexdigest()
    return hashlib.sha256(content).hexdigest()


def _is_candidate(name: str) -> bool:
    return not name.startswith(".") and PurePosixPath(name).suffix.lower() in READERS


def _stored_name(file: LandedFile) -> str:
    return f"{file.fingerprint[:12]}-{file.name}"


class LandingZone(ConfigurableResource):
    """What the sensor and the landed_transactions asset need of a landing location."""

    def list_files(self, folder: str = "", starting: str = "") -> list[LandedFile]:
        """Files waiting in the landing location, or (``folder="archive"``) the loaded ones kept in
        its archive, named relative to the landing location; only those whose own name begins with
        ``starting`` (the others are not read or hashed)."""
        raise NotImplementedError

    def read(self, name: str) -> bytes:
        raise NotImplementedError

    def locate(self, load_id: str) -> tuple[LandedFile, bool] | None:
        """The file whose content has ``load_id`` and whether it is already archived (loaded before),
        looking first among the waiting files, then in the archive; ``None`` if neither holds it."""
        archived = _stored_name(LandedFile("", load_id.removeprefix("landed_"), 0))  # "<fingerprint[:12]>-"
        for folder, starting in (("", ""), (ARCHIVE, archived)):
            for file in self.list_files(folder, starting):
                if file.load_id == load_id:
                    return file, bool(folder)
        return None

    def read_verified(self, file: LandedFile) -> bytes:
        """``file``'s bytes, or ``LandedFileChanged`` if they are not the ones it was fingerprinted from."""
        content = self.read(file.name)
        found = content_fingerprint(content, like=file.fingerprint)
        if found != file.fingerprint:
            raise LandedFileChanged(
                f"{file.name} changed after the sensor fingerprinted it (expected {file.fingerprint[:16]}…,"
                f" read {found[:16]}…, {len(content):,} bytes); nothing was loaded: the sensor requests the new"
                " content as its own load")
        return content

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

    def list_files(self, folder: str = "", starting: str = "") -> list[LandedFile]:
        root = Path(self.root, folder)
        if not root.is_dir():
            return []
        files = []
        for path in sorted(p for p in root.glob(f"{starting}*") if p.is_file() and _is_candidate(p.name)):
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            files.append(LandedFile(str(PurePosixPath(folder, path.name)), digest.hexdigest(), path.stat().st_size))
        return files

    def read(self, name: str) -> bytes:
        return Path(self.root, name).read_bytes()

    def archive(self, file: LandedFile) -> str:
        target = self._dir(ARCHIVE) / _stored_name(file)
        Path(self.root, file.name).replace(target)
        return str(target)

    def quarantine(self, file: LandedFile, reason: str) -> str:
        target = self._dir(QUARANTINE) / _stored_name(file)
        target.with_name(target.name + ".reason.txt").write_text(reason + "\n")
        Path(self.root, file.name).replace(target)
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
        pages = self._client().get_paginator("list_objects_v2").paginate(  # sub-folders are not listed
            Bucket=self.bucket, Prefix=self.prefix + (f"{folder}/" if folder else "") + starting, Delimiter="/"
        )
        files = []
        for page in pages:
            for obj in page.get("Contents", []):
                name = obj["Key"][len(self.prefix):]
                if _is_candidate(PurePosixPath(name).name):
                    etag = obj["ETag"].strip('"')
                    # a multipart ETag ("<md5 of part md5s>-<parts>") is no content hash: hash the bytes
                    fingerprint = etag if "-" not in etag else hashlib.sha256(self.read(name)).hexdigest()
                    files.append(LandedFile(name, fingerprint, obj["Size"]))
        return sorted(files, key=lambda f: f.name)

    def read(self, name: str) -> bytes:
        return self._client().get_object(Bucket=self.bucket, Key=self._key(name))["Body"].read()

    def _move(self, file: LandedFile, folder: str) -> str:
        client, target = self._client(), self._key(folder, _stored_name(file))
        client.copy_object(Bucket=self.bucket, Key=target, CopySource={"Bucket": self.bucket, "Key": self._key(file.name)})
        client.delete_object(Bucket=self.bucket, Key=self._key(file.name))
        return f"s3://{self.bucket}/{target}"

    def archive(self, file: LandedFile) -> str:
        return self._move(file, ARCHIVE)

    def quarantine(self, file: LandedFile, reason: str) -> str:
        target = self._key(QUARANTINE, _stored_name(file) + ".reason.txt")
        self._client().put_object(Bucket=self.bucket, Key=target, Body=(reason + "\n").encode())
        return self._move(file, QUARANTINE)

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"
