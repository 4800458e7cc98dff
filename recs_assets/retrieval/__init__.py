"""Retrieval with a trained two-tower model: the one path from saved towers to ranked raw ids.

Validation (training), evaluation, serving and the retrieval candidate source all call ``rank``:
load towers → embed the catalogue → embed the queries → exact top-k → map ids back through the
workflow's vocabularies. TensorFlow and Merlin are imported inside the functions (slow imports).
"""

from recs_assets.retrieval.towers import (
    Ranked,
    Towers,
    item_embeddings,
    load_towers,
    query_embeddings,
    query_rows,
    rank,
    rank_as_of,
)

__all__ = ["Ranked", "Towers", "item_embeddings", "load_towers", "query_embeddings", "query_rows", "rank", "rank_as_of"]
