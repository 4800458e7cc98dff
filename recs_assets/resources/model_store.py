"""Where artifacts live (fitted workflows, transformed datasets, models): a local folder or S3.

Artifacts are directories addressed by a key such as ``workflows/<fingerprint>``. Publishing is
atomic per key: readers see the previous complete directory or the new complete one, never a half.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field


class ModelStore(ConfigurableResource):
    """Put and get artifact directories by key."""

    def publish_dir(self, local_dir: str | Path, key: str) -> str:
        """Copy ``local_dir`` to ``key``; return the artifact's URI."""
        raise NotImplementedError

    def local_path(self, key: str) -> Path:
        """A local directory holding the artifact (downloaded first where it is remote)."""
        raise NotImplementedError

    def uri(self, key: str) -> str:
        raise NotImplementedError


class LocalModelStore(ModelStore):
    root: str = Field(description="Folder holding all artifacts.")

    def publish_dir(self, local_dir: str | Path, key: str) -> str:
        target = Path(self.root) / key
        staging = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
        staging.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(local_dir, staging)
        if target.exists():  # replace: move the old one aside first, then swap in the new one
            old = target.with_name(f".{target.name}.old.{uuid.uuid4().hex}")
            target.rename(old)
            staging.rename(target)
            shutil.rmtree(old)
        else:
            staging.rename(target)
        return self.uri(key)

    def local_path(self, key: str) -> Path:
        path = Path(self.root) / key
        if not path.is_dir():
            raise FileNotFoundError(f"no artifact {key!r} in local model store {self.root}")
        return path

    def uri(self, key: str) -> str:
        return str((Path(self.root) / key).resolve())


class S3ModelStore(ModelStore):
    """S3 (or an S3-compatible endpoint such as moto or MinIO). Credentials come from the usual
    AWS environment variables; nothing is stored in config."""

    bucket: str
    prefix: str = "recs_assets"
    endpoint_url: str | None = None
    region_name: str | None = None
    cache_dir: str = Field("/tmp/recs_assets_s3_cache", description="Where downloads are kept.")

    def _client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=self.region_name)

    def _key(self, key: str) -> str:
        return f"{self.prefix.strip('/')}/{key.strip('/')}"

    def publish_dir(self, local_dir: str | Path, key: str) -> str:
        # Objects go under a fresh version prefix; the pointer object written last makes it visible.
        client, version = self._client(), uuid.uuid4().hex
        base = f"{self._key(key)}/{version}"
        for path in sorted(Path(local_dir).rglob("*")):
            if path.is_file():
                client.upload_file(str(path), self.bucket, f"{base}/{path.relative_to(local_dir)}")
        client.put_object(Bucket=self.bucket, Key=f"{self._key(key)}/CURRENT", Body=version.encode())
        return self.uri(key)

    def local_path(self, key: str) -> Path:
        client = self._client()
        pointer = client.get_object(Bucket=self.bucket, Key=f"{self._key(key)}/CURRENT")
        version = pointer["Body"].read().decode()
        target = Path(self.cache_dir) / key / version
        if target.is_dir():
            return target
        staging = target.with_name(f".{version}.{uuid.uuid4().hex}")
        base = f"{self._key(key)}/{version}/"
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base):
            for obj in page.get("Contents", []):
                dest = staging / obj["Key"][len(base):]
                dest.parent.mkdir(parents=True, exist_ok=True)
                client.download_file(self.bucket, obj["Key"], str(dest))
        staging.rename(target)
        return target

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"
