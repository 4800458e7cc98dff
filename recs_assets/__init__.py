"""recs_assets: recommendations at reasonable scale, as Dagster assets.

``dagster ... -m recs_assets`` finds ``defs`` here. It is built on first access, so that importing a
pure module (``recs_assets.ingest.synthetic``) does not load Dagster, dbt's manifest and friends.
"""

from typing import Any

__all__ = ["defs"]


def __getattr__(name: str) -> Any:
    if name == "defs":
        from recs_assets.definitions import defs

        return defs
    raise AttributeError(f"module 'recs_assets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return [*globals(), "defs"]
