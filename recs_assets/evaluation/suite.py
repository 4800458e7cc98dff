"""The RecList behavioural suite: accuracy, sliced miss rates (MRED), "being less wrong", diversity,
coverage and popularity bias, each a ``@rec_test`` over one recommender's top-k lists.

A run writes RecList's report folder (results/report.json, plots/*.png) under ``report_root``, and
the result table RecList prints into it (results/table.txt) instead of the run's output.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from reclist.charts import CHART_TYPE
from reclist.reclist import RecList, rec_test

from recs_assets.core import metrics
from recs_assets.evaluation import slices
from recs_assets.core.metrics import K

SLICE_FAMILIES = ("user_activity", "item_popularity", "age_band", "product_group")


@dataclass
class EvaluationData:
    """What every test reads. Ids are raw article/customer ids."""

    recommended: pd.DataFrame  # customer_id, items (list of article ids, best first)
    truth: pd.DataFrame  # customer_id, article_id and one column per slice family
    catalogue_size: int  # items seen in training: the candidates
    item_popularity: dict  # article id → train purchases
    item_embeddings: dict = field(default_factory=dict)  # article id → model embedding
    k: int = K
    min_slice_pairs: int = 50  # slices smaller than this are charted but left out of MRED

    def lists_and_relevant(self) -> tuple[np.ndarray, list[set]]:
        bought = metrics.bought_sets(self.truth)
        lists = np.array([list(items)[: self.k] for items in self.recommended["items"]], dtype=object)
        relevant = [bought.get(c, set()) for c in self.recommended["customer_id"]]
        return np.array([list(x) for x in lists]), relevant


class PurchaseRecList(RecList):
    """Behavioural tests of one recommender on the held-out week."""

    def __init__(self, data: EvaluationData, model_name: str, report_root: str | Path) -> None:
        self.data = data
        self.META_DATA_FOLDER = str(report_root)  # RecList writes its report folder here
        self._lists, self._relevant = data.lists_and_relevant()
        self._pairs = slices.pair_misses(data.recommended, data.truth, data.k)
        super().__init__(model_name=model_name)

    # ---- accuracy ----------------------------------------------------------------------------
    @rec_test("recall_at_k", display_type=CHART_TYPE.SCALAR)
    def recall(self):
        """Recall@k over each test user's next-week purchases, whole catalogue as candidates."""
        return metrics.recall_at_k(self._lists, self._relevant, self.data.k)

    @rec_test("ndcg_at_k", display_type=CHART_TYPE.SCALAR)
    def ndcg(self):
        """NDCG@k with binary gains."""
        return metrics.ndcg_at_k(self._lists, self._relevant, self.data.k)

    @rec_test("map_at_k", display_type=CHART_TYPE.SCALAR)
    def map(self):
        """MAP@k as scored in the H&M Kaggle competition."""
        return metrics.map_at_k(self._lists, self._relevant, self.data.k)

    @rec_test("hit_rate_at_k", display_type=CHART_TYPE.SCALAR)
    def hit_rate(self):
        """Share of users with at least one hit."""
        return metrics.hit_rate_at_k(self._lists, self._relevant, self.data.k)

    @rec_test("mrr_at_k", display_type=CHART_TYPE.SCALAR)
    def mrr(self):
        """Mean reciprocal rank of the first hit."""
        return metrics.mrr_at_k(self._lists, self._relevant, self.data.k)

    # ---- beyond accuracy -------------------------------------------------------------------------
    @rec_test("coverage_at_k", display_type=CHART_TYPE.SCALAR)
    def coverage(self):
        """Share of the training catalogue recommended to anyone."""
        return metrics.coverage_at_k(self._lists, self.data.catalogue_size, self.data.k)

    @rec_test("popularity_bias_at_k", display_type=CHART_TYPE.SCALAR)
    def popularity_bias(self):
        """Mean train popularity of recommended items relative to the catalogue mean (1 = neutral)."""
        return metrics.popularity_bias_at_k(self._lists, self.data.item_popularity, self.data.k)

    @rec_test("less_wrong", display_type=CHART_TYPE.SCALAR)
    def less_wrong(self):
        """For users with no hit: cosine similarity of the top item to the closest bought item."""
        missed = [i for i, (r, s) in enumerate(zip(self._lists, self._relevant)) if s and not set(r) & s]
        return slices.less_wrong(
            [self._lists[i][0] for i in missed], [list(self._relevant[i]) for i in missed], self.data.item_embeddings
        )

    @rec_test("latent_diversity", display_type=CHART_TYPE.SCALAR)
    def diversity(self):
        """Mean pairwise cosine distance within each list, in the model's item space."""
        return slices.latent_diversity([list(r) for r in self._lists], self.data.item_embeddings)

    # ---- slices ---------------------------------------------------------------------------------
    @rec_test("miss_rate_by_user_activity", display_type=CHART_TYPE.BARS)
    def miss_by_activity(self):
        """Miss rate by the user's number of train purchases."""
        return slices.miss_rates(self._pairs, "user_activity")

    @rec_test("miss_rate_by_item_popularity", display_type=CHART_TYPE.BARS)
    def miss_by_popularity(self):
        """Miss rate by the bought item's train popularity quartile."""
        return slices.miss_rates(self._pairs, "item_popularity")

    @rec_test("miss_rate_by_age_band", display_type=CHART_TYPE.BARS)
    def miss_by_age(self):
        """Miss rate by the user's age band."""
        return slices.miss_rates(self._pairs, "age_band")

    @rec_test("miss_rate_by_product_group", display_type=CHART_TYPE.BARS)
    def miss_by_group(self):
        """Miss rate by the bought item's product group."""
        return slices.miss_rates(self._pairs, "product_group")

    @rec_test("mred", display_type=CHART_TYPE.BARS)
    def mred(self):
        """Miss rate equality difference per slice family (0 = every slice served alike); slices with
        fewer than min_slice_pairs (user, item) pairs are left out as noise."""
        return {family: slices.mred(self._pairs, family, self.data.min_slice_pairs) for family in SLICE_FAMILIES}

    def __call__(self, *args, **kwargs):
        """Run every test. RecList prints a progress bar and its full result table to stdout whatever
        ``verbose`` says (hundreds of lines per list in ``make run``): both go to results/table.txt."""
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            super().__call__(*args, **kwargs)
        (self.report_dir / "results" / "table.txt").write_text(printed.getvalue())

    def results(self) -> dict:
        """Test name → result, after the suite has run."""
        return {r["name"]: r["result"] for r in self._test_results}

    @property
    def report_dir(self) -> Path:
        return Path(self.meta_store_path)
