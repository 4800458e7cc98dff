"""Before ``make serve``: is there a published version to serve? Says what to run when there is not.

    python -m recs_service.ready      # exit 0 when a version is live, 1 (with the next step) when not
"""

from __future__ import annotations

import sys

from recs_service.service import live, served_list
from recs_service.settings import cache_from_environment, data_dir


def message() -> tuple[bool, str]:
    """(ready, what to tell the person starting the API)."""
    cache = cache_from_environment()
    version, model_version = live(cache)
    if not version:
        return False, (f"nothing is published in {data_dir()} yet: run `make run` first (or `make run SOURCE=<name>`"
                       " and `make serve SOURCE=<name>` for another data set)")
    return True, f"serving version {version} ({served_list(model_version)}) from {cache.describe()}"


def main() -> None:
    ready, text = message()
    print(text, file=sys.stdout if ready else sys.stderr)
    sys.exit(0 if ready else 1)


if __name__ == "__main__":
    main()
