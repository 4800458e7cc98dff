"""The hyperparameter grid. Each entry is one partition of ``trained_model``; add a line to add one."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Hyperparameters:
    learning_rate: float
    batch_size: int
    epochs: int
    embedding_dim: int = 64  # output size of both towers
    hidden_dims: tuple[int, ...] = (128,)
    logq_correction: bool = True  # popularity correction of in-batch negatives (training only)
    lazy_adam: bool = True  # Adam updates only the embedding rows in the batch (training.lazy_adam)

    @property
    def key(self) -> str:
        """Readable partition key, e.g. ``lr0.01-bs4096-ep3-d64``."""
        return f"lr{self.learning_rate:g}-bs{self.batch_size}-ep{self.epochs}-d{self.embedding_dim}"

    def as_dict(self) -> dict:
        return {**asdict(self), "hidden_dims": list(self.hidden_dims)}


# Batch 1024 only: in-batch negatives cost B² per batch, and on CPU batch 4096 bought neither speed nor
# recall (docs/benchmarks.md, "Two-tower training"); its 4096² logits matrices also make it the step
# most slowed by a busy machine.
GRID: list[Hyperparameters] = [
    Hyperparameters(learning_rate=0.005, batch_size=1024, epochs=3),
    Hyperparameters(learning_rate=0.01, batch_size=1024, epochs=2, embedding_dim=32),
]

BY_KEY: dict[str, Hyperparameters] = {p.key: p for p in GRID}
assert len(BY_KEY) == len(GRID), "two grid entries share a partition key"


if __name__ == "__main__":  # the partition keys, for shell loops (make run)
    print(" ".join(p.key for p in GRID))
