"""recs_assets: recommendations at reasonable scale, as Dagster assets.

``dagster ... -m recs_assets`` loads ``defs`` from here.
"""

from recs_assets.definitions import defs

__all__ = ["defs"]
