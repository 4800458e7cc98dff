"""Chooses a raw data source by name and streams its chunks as ``(table, origin, frame)``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from recs_assets.ingest.complete_journey import read_complete_journey
from recs_assets.ingest.hm_csv import read_hm_csv
from recs_assets.ingest.schema import ARTICLES, CUSTOMERS, TRANSACTIONS, RawTable
from recs_assets.ingest.synthetic import SyntheticGenerator, SyntheticSpec

SourceName = Literal["synthetic", "hm_csv", "complete_journey"]
Chunk = tuple[RawTable, str, pd.DataFrame]


def synthetic_chunks(spec: SyntheticSpec) -> Iterator[Chunk]:
    origin = f"synthetic(scale={spec.scale}, seed={spec.seed})"
    generator = SyntheticGenerator(spec)
    for frame in generator.customers():
        yield CUSTOMERS, origin, frame
    yield ARTICLES, origin, generator.articles
    for frame in generator.transactions():
        yield TRANSACTIONS, origin, frame


@dataclass
class RawSource:
    """A named source and its settings; ``notes`` collects what the source dropped or mapped."""

    name: SourceName = "synthetic"
    scale: float = 0.01
    seed: int = 42
    path: str | None = None
    repeat_purchase_rate: float = SyntheticSpec.repeat_rate
    notes: list[str] = field(default_factory=list)

    def chunks(self) -> Iterator[Chunk]:
        if self.name == "synthetic":
            return synthetic_chunks(SyntheticSpec(scale=self.scale, seed=self.seed,
                                                  repeat_rate=self.repeat_purchase_rate))
        if self.name == "hm_csv":
            if not self.path:
                raise ValueError("source 'hm_csv' needs path: the directory holding the Kaggle CSVs")
            return read_hm_csv(self.path)
        if self.name == "complete_journey":
            return read_complete_journey(self.notes)
        raise ValueError(f"unknown source {self.name!r}; choose synthetic, hm_csv or complete_journey")

    def describe(self) -> str:
        if self.name == "synthetic":
            return f"synthetic scale={self.scale} seed={self.seed} repeat_purchase_rate={self.repeat_purchase_rate}"
        return f"{self.name} {self.path or ''}".strip()
