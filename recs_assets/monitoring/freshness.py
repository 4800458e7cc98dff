"""How old is what is served, and the data under it: plain functions over timestamps.

The served list's age is the age of the **live version**: when the cache's pointer last flipped to a new
version (the cache records ``created_at`` per version, and re-publishing the current version writes
nothing). A materialization of ``served_recommendations`` that kept the same version (the gate refused a
challenger, or the same list was rebuilt) does not make the list any fresher.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone

DAY = 86_400.0


@dataclass(frozen=True)
class Age:
    """An age in days and its verdict: "fresh", "warn" or "fail"."""

    days: float
    verdict: str

    @property
    def fresh(self) -> bool:
        return self.verdict == "fresh"


def judge_age(then: float, now: float, warn_days: float, fail_days: float | None = None) -> Age:
    """Age of ``then`` at ``now`` (both epoch seconds): "warn" beyond ``warn_days``, "fail" beyond
    ``fail_days`` (None: never fails). A time in the future counts as age 0 (clocks differ a little)."""
    for name, value in (("then", then), ("now", now), ("warn_days", warn_days), ("fail_days", fail_days or 0.0)):
        if not math.isfinite(value):
            raise ValueError(f"{name}={value!r} is not a finite number")
    if warn_days < 0 or (fail_days is not None and fail_days < warn_days):
        raise ValueError(f"need 0 <= warn_days <= fail_days, got warn_days={warn_days}, fail_days={fail_days}")
    days = max(0.0, (now - then) / DAY)
    if fail_days is not None and days > fail_days:
        return Age(days, "fail")
    return Age(days, "warn" if days > warn_days else "fresh")


def epoch(value) -> float:
    """Epoch seconds of a warehouse timestamp (naive values are UTC: the loaders write UTC)."""
    if isinstance(value, (int, float)):
        return float(value)
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise ValueError(f"not a timestamp: {value!r}")
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()


def when(ts: float) -> str:
    """A readable UTC time for metadata."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
