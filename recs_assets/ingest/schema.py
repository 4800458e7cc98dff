"""The raw tables' columns, in the H&M Personalized Fashion layout every source is mapped onto."""

from __future__ import annotations

from dataclasses import dataclass

# Logical types: "string", "int", "float", "date". The warehouse maps them to SQL types.
CUSTOMER_COLUMNS: dict[str, str] = {
    "customer_id": "string",
    "FN": "float",
    "Active": "float",
    "club_member_status": "string",
    "fashion_news_frequency": "string",
    "age": "float",
    "postal_code": "string",
}

ARTICLE_COLUMNS: dict[str, str] = {
    "article_id": "int",
    "product_code": "int",
    "prod_name": "string",
    "product_type_no": "int",
    "product_type_name": "string",
    "product_group_name": "string",
    "graphical_appearance_no": "int",
    "colour_group_code": "int",
    "perceived_colour_value_id": "int",
    "perceived_colour_master_id": "int",
    "department_no": "int",
    "index_code": "string",
    "index_group_no": "int",
    "section_no": "int",
    "garment_group_no": "int",
}

TRANSACTION_COLUMNS: dict[str, str] = {
    "t_dat": "date",
    "customer_id": "string",
    "article_id": "int",
    "price": "float",
    "sales_channel_id": "int",
}

# Added by every load so that each row says which load wrote it and when.
LOAD_COLUMNS: dict[str, str] = {"load_id": "string", "loaded_at": "timestamp"}


@dataclass(frozen=True)
class RawTable:
    """One raw table: its name, its source columns, and what must hold of them."""

    name: str
    columns: dict[str, str]
    key: str | None  # unique, not-null key; None where rows have no key (transactions)
    not_null: tuple[str, ...]

    @property
    def all_columns(self) -> dict[str, str]:
        return {**self.columns, **LOAD_COLUMNS}


CUSTOMERS = RawTable("raw_customers", CUSTOMER_COLUMNS, key="customer_id", not_null=("customer_id",))
ARTICLES = RawTable("raw_articles", ARTICLE_COLUMNS, key="article_id", not_null=("article_id",))
TRANSACTIONS = RawTable(
    "raw_transactions",
    TRANSACTION_COLUMNS,
    key=None,
    not_null=("t_dat", "customer_id", "article_id", "price", "sales_channel_id"),
)
RAW_TABLES: tuple[RawTable, ...] = (CUSTOMERS, ARTICLES, TRANSACTIONS)
RAW_SCHEMA = "raw"

# Transaction files dropped in the landing zone after the initial load are appended here. A separate
# schema: a full raw reload (which swaps the raw schema on Snowflake) leaves appended files alone.
LANDING_SCHEMA = "landing"
LANDED_TRANSACTIONS = RawTable(
    "landed_transactions", TRANSACTION_COLUMNS, key=None, not_null=TRANSACTIONS.not_null
)
