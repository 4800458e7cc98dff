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

    Scores are ``queries @ items.T``; ties keep the lower item index first, at the cut-off too.
    ``exclude[i]`` lists item indices query ``i`` must not get (e.g. already bought): they never appear;
    when fewer than ``k`` items remain, the empty slots hold index -1 and score -inf (``EMPTY``). Memory
    is ``block_size * len(items)`` scores at a time.
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
            part_scores = np.take_along_axis(block, part, axis=1)
            _lowest_ties_at_the_cut(block, part, part_scores, k)
        else:
            part = np.tile(np.arange(len(items)), (len(block), 1))
            part_scores = np.take_along_axis(block, part, axis=1)
        # sort by score desc, then by item index asc, for a stable, reproducible order
        order = np.lexsort((part, -part_scores), axis=1)
        found, found_scores = np.take_along_axis(part, order, axis=1), np.take_along_axis(part_scores, order, axis=1)
        found[found_scores == -np.inf] = -1  # excluded: never an item
        indices[start : start + len(block)] = found
        scores[start : start + len(block)] = found_scores
    return indices, scores


EMPTY = -1  # the index of a slot no item could fill (its score is -inf)


def _lowest_ties_at_the_cut(block: np.ndarray, part: np.ndarray, part_scores: np.ndarray, k: int) -> None:
    """``argpartition`` keeps an arbitrary subset of the items tied at the k-th score: for the rows
    where some tied item was left out, keep the lowest indices instead (in place)."""
    cut = part_scores.min(axis=1, keepdims=True)
    short = np.flatnonzero((block == cut).sum(axis=1) > (part_scores == cut).sum(axis=1))
    for row in short:
        above = np.flatnonzero(block[row] > cut[row, 0])
        ties = np.flatnonzero(block[row] == cut[row, 0])[: k - len(above)]
        part[row] = np.r_[above, ties]
        part_scores[row] = block[row, part[row]]


def top_k_faiss(
    queries: np.ndarray,
    items: np.ndarray,
    k: int,
    block_size: int = 16384,
    exclude: Sequence[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Same contract as ``top_k``, through faiss's exact inner-product index (multi-threaded BLAS).

    Exclusions are honoured by fetching ``k`` plus the block's longest exclusion list, then dropping
    excluded items (empty slots: index -1, score -inf). Ties may order differently from ``top_k``.
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
                keep = ~np.isin(found[row], ban) & (found[row] != EMPTY)
                kept, kept_scores = found[row][keep][:k], found_scores[row][keep][:k]
                found[row, :k], found_scores[row, :k] = EMPTY, -np.inf  # never an excluded item
                found[row, : len(kept)], found_scores[row, : len(kept)] = kept, kept_scores
        indices[start : start + len(block)] = found[:, :k]
        scores[start : start + len(block)] = found_scores[:, :k]
    return indices, scores
