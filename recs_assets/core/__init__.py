"""Math every stage shares: top-k retrieval and ranking metrics (plain numpy, no Dagster)."""
