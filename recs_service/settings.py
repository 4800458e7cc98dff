"""Where the online path finds its cache, from environment variables only (no Dagster, no pipeline).

``RECS_ENV=local`` (default): the SQLite cache in the data folder (``RECS_DATA_DIR``, default
``data/synthetic`` in the repository). ``RECS_ENV=prod``: DynamoDB tables ``RECS_DYNAMODB_PREFIX``
(default ``recs``) at ``RECS_DYNAMODB_ENDPOINT`` (unset: AWS), credentials from AWS's usual variables.
The pipeline's resources are built from the same settings (``recs_assets.environment``).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """The local data folder: ``RECS_DATA_DIR``, by default ./data/synthetic (``make run SOURCE=x``: ./data/x)."""
    return Path(os.environ.get("RECS_DATA_DIR", REPO_ROOT / "data" / "synthetic")).resolve()


ENVIRONMENTS = ("local", "prod")


def current_environment() -> str:
    """``RECS_ENV`` (default ``local``), refused when it is neither ``local`` nor ``prod``."""
    env = os.environ.get("RECS_ENV", "local")
    if env not in ENVIRONMENTS:
        raise ValueError(f"RECS_ENV={env!r} is not one of {ENVIRONMENTS}")
    return env


def cache_settings(env: str | None = None) -> tuple[str, dict]:
    """("sqlite" | "dynamodb", the cache's constructor arguments) for ``env`` (default ``RECS_ENV``)."""
    env = env or current_environment()
    if env == "local":
        return "sqlite", {"path": str(data_dir() / "recommendations.sqlite")}
    if env == "prod":
        return "dynamodb", {"table_prefix": os.environ.get("RECS_DYNAMODB_PREFIX", "recs"),
                            "endpoint_url": os.environ.get("RECS_DYNAMODB_ENDPOINT") or None}
    raise ValueError(f"RECS_ENV={env!r} is not one of {ENVIRONMENTS}")


def cache_from_environment(env: str | None = None):
    """The plain cache the API and the Lambda handler read."""
    kind, kwargs = cache_settings(env)
    if kind == "sqlite":
        from recs_service.caches import SQLiteCache

        return SQLiteCache(**kwargs)
    from recs_service.dynamodb import DynamoDBCache

    return DynamoDBCache(**kwargs)
