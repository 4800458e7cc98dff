"""Where artifacts live (fitted workflows, transformed datasets, models): a local folder or S3.

Artifacts are directories addressed by a key such as ``workflows/<fingerprint>``. Publishing is
atomic per key: readers see the previous complete directory or the new complete one, never a half,
and never no directory at all.

Keys, and everything the bucket says (pointer contents, object names), are untrusted path material:
each is resolved against the store's folder and refused, naming it, if it would leave that folder.
Whoever can write the bucket still controls what is loaded from it (pickled workflows execute code
when loaded), so this guards the local disk, not the artifacts' content.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import uuid
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

# What a version name (the content of an S3 ``CURRENT`` pointer) may look like: one plain path segment.
_VERSION = re.compile(r"[A-Za-z0-9_-]{1,128}")
# Version folders of the local store sit next to the key's link: ``<name>~<version>``.
_VERSION_SEP = "~"


class UnsafeArtifactPath(ValueError):
    """A key, pointer or object name that would put files outside the store's folder."""


def _inside(root: Path, relative: str, what: str) -> Path:
    """``root / relative``, refused unless it is a plain relative path that resolves inside ``root``."""
    if "\\" in relative or any(part in ("", ".", "..") for part in relative.split("/")):
        raise UnsafeArtifactPath(f"{what} {relative!r} is not a plain relative path under {root}")
    base = root.resolve()
    path = (base / relative).resolve()
    if path == base or not path.is_relative_to(base):
        raise UnsafeArtifactPath(f"{what} {relative!r} resolves to {path}, outside {base}")
    return base / relative


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
    """A folder. Each key is a symbolic link to its current version folder (``<name>~<version>``
    beside it), so a replace is one atomic ``rename`` of the link: a reader finds the old version or
    the new one. Keys written by earlier releases are plain folders; they are read as they are and
    become links on their next publish."""

    root: str = Field(description="Folder holding all artifacts.")

    def publish_dir(self, local_dir: str | Path, key: str) -> str:
        target = _inside(Path(self.root), key, "model store key")
        target.parent.mkdir(parents=True, exist_ok=True)
        version = target.with_name(f"{target.name}{_VERSION_SEP}{uuid.uuid4().hex}")
        staging = target.with_name(f".{version.name}")
        shutil.copytree(local_dir, staging)
        staging.rename(version)
        link = target.with_name(f".{target.name}.link.{uuid.uuid4().hex}")
        link.symlink_to(version.name)  # relative: the store folder can be moved as a whole
        previous = os.readlink(target) if target.is_symlink() else None
        if target.is_dir() and not target.is_symlink():
            # A key written by an earlier release is a folder, which a link cannot replace in one
            # rename; it is moved aside first, so this one replace leaves a brief gap.
            legacy = target.with_name(f".{target.name}.old.{uuid.uuid4().hex}")
            target.rename(legacy)
            link.replace(target)
            shutil.rmtree(legacy)
        else:
            link.replace(target)
        if previous and _VERSION_SEP in previous and "/" not in previous:
            shutil.rmtree(target.with_name(previous), ignore_errors=True)
        return self.uri(key)

    def local_path(self, key: str) -> Path:
        path = _inside(Path(self.root), key, "model store key")
        # The version folder itself: a reader keeps reading one version while the link moves on.
        resolved = path.resolve()
        if not resolved.is_dir():
            raise FileNotFoundError(f"no artifact {key!r} in local model store {self.root}")
        if not resolved.is_relative_to(Path(self.root).resolve()):
            raise UnsafeArtifactPath(f"model store key {key!r} links to {resolved}, outside {self.root}")
        return resolved

    def uri(self, key: str) -> str:
        return str(Path(self.root).resolve() / key)


class S3ModelStore(ModelStore):
    """S3 (or an S3-compatible endpoint such as moto or MinIO). Credentials come from the usual
    AWS environment variables; nothing is stored in config.

    Downloads go to ``cache_dir/<key>/<version>``: first into a private staging folder, then one
    rename. Several steps may download the same version at once (the multiprocess executor shares
    the cache): the first rename wins, the others find it complete and drop their copies."""

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
        _inside(Path(self.cache_dir), key, "model store key")  # refused before anything is uploaded
        # Objects go under a fresh version prefix; the pointer object written last makes it visible.
        client, version = self._client(), uuid.uuid4().hex
        base = f"{self._key(key)}/{version}"
        for path in sorted(Path(local_dir).rglob("*")):
            if path.is_file():
                client.upload_file(str(path), self.bucket, f"{base}/{path.relative_to(local_dir).as_posix()}")
        client.put_object(Bucket=self.bucket, Key=f"{self._key(key)}/CURRENT", Body=version.encode())
        return self.uri(key)

    def local_path(self, key: str) -> Path:
        folder = _inside(Path(self.cache_dir), key, "model store key")
        client = self._client()
        pointer_key = f"{self._key(key)}/CURRENT"
        raw = client.get_object(Bucket=self.bucket, Key=pointer_key)["Body"].read(256)
        version = raw.decode("utf-8", errors="replace").strip()
        if not _VERSION.fullmatch(version):
            raise UnsafeArtifactPath(
                f"pointer s3://{self.bucket}/{pointer_key} holds {version[:64]!r}, not a version name"
                f" (letters, digits, '-', '_'); refusing to use it as a folder under {self.cache_dir}")
        target = folder / version
        if target.is_dir():
            return target
        base = f"{self._key(key)}/{version}/"
        objects = [obj["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base)
                   for obj in page.get("Contents", []) if not obj["Key"].endswith("/")]  # not folder markers
        staging = folder / f".{version}.{uuid.uuid4().hex}"
        # Every destination is checked before the first byte is written.
        destinations = {name: _inside(staging, name[len(base):], f"object s3://{self.bucket}/{name}") for name in objects}
        try:
            staging.mkdir(parents=True)
            for name, dest in destinations.items():
                dest.parent.mkdir(parents=True, exist_ok=True)
                client.download_file(self.bucket, name, str(dest))
            try:
                staging.rename(target)
            except OSError as err:
                # Another reader renamed its complete copy first: use that one.
                if err.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not target.is_dir():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"
