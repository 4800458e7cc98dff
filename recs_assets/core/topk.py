"""Exact top-k by inner product, in blocks of queries: bounded memory at any number of users."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _check_shapes(queries: np.ndarray, items: np.ndarray) -> None:
    if queries.ndim != 2 or items.ndim != 2 or queries.shape[1] != items.shape[1]:
        raise ValueError(f"shapes do not match: queries {queries.shape}, items {items.shape}")


def top_k(
    queries: np.ndarray,
    items: np.ndarray,
    k: int,
    block_size: int = 1024,
    exclude: Sequence[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Indices into ``items`` and scores of the ``k`` best items per query row, best first.

    Scores are ``queries @ items.T``; ties keep the lower item index first. ``exclude[i]`` lists item
    indices query ``i`` must not get (e.g. already bought); they score -inf and sort last. Memory is
    ``block_size * len(items)`` scores at a time.
    """
    _check_shapes(queries, items)
    k = min(k, len(items))
    n = len(queries)
    indices = np.empty((n, k), dtype=np.int64)
    scores = np.empty((n, k), dtype=np.float32)
    for start in range(0, n, block_size):
        block = queries[start : start + block_size] @ items.T
        if exclude is not None:
            for row, banned in enumerate(exclude[start : start + len(block)]):
                block[row, banned] = -np.inf
        if k < len(items):  # partition in place of a negated copy: the k largest land at the end
            part = np.argpartition(block, len(items) - k, axis=1)[:, -k:]
        else:
            part = np.tile(np.arange(len(items)), (len(block), 1))
        part_scores = np.take_along_axis(block, part, axis=1)
        # sort by score desc, then by item index asc, for a stable, reproducible order
        order = np.lexsort((part, -part_scores), axis=1)
        indices[start : start + len(block)] = np.take_along_axis(part, order, axis=1)
        scores[start : start + len(block)] = np.take_along_axis(part_scores, order, axis=1)
    return indices, scores


def top_k_faiss(
    queries: np.ndarray,
    items: np.ndarray,
    k: int,
    block_size: int = 16384,
    exclude: Sequence[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Same contract as ``top_k``, through faiss's exact inner-product index (multi-threaded BLAS).

    Exclusions are honoured by fetching ``k`` plus the block's longest exclusion list, then dropping
    excluded items. Ties may order differently from ``top_k``.
    """
    import faiss

    _check_shapes(queries, items)
    k = min(k, len(items))
    index = faiss.IndexFlatIP(items.shape[1])
    index.add(np.ascontiguousarray(items, dtype=np.float32))
    n = len(queries)
    indices = np.empty((n, k), dtype=np.int64)
    scores = np.empty((n, k), dtype=np.float32)
    for start in range(0, n, block_size):
        block = np.ascontiguousarray(queries[start : start + block_size], dtype=np.float32)
        banned = exclude[start : start + len(block)] if exclude is not None else None
        extra = max((len(b) for b in banned), default=0) if banned is not None else 0
        found_scores, found = index.search(block, min(k + extra, len(items)))
        if banned is not None and extra:
            for row, ban in enumerate(banned):
                keep = ~np.isin(found[row], ban)
                # excluded items go last with -inf, as in top_k, when too few others remain
                order = np.concatenate([found[row][keep], found[row][~keep]])[:k]
                order_scores = np.concatenate([found_scores[row][keep], np.full((~keep).sum(), -np.inf)])[:k]
                found[row, :k], found_scores[row, :k] = order, order_scores
        indices[start : start + len(block)] = found[:, :k]
        scores[start : start + len(block)] = found_scores[:, :k]
    return indices, scores
