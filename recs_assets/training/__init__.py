"""Training: hyperparameter grid → partitions, Merlin two-tower per partition, best-model choice."""
